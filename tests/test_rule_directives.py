"""Every rule of the workflow, read as text: no directive twice (Snakemake's parser silently keeps
the last one, which once dropped prepare_data's `origin` param), and every job declares its
memory and runtime (a Slurm job is otherwise killed or held back by a guessed request)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.conftest import REPO

RULE_FILES = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]


def rule_directives(text: str) -> dict[str, list[str]]:
    """Rule name → the directives it declares, in order (one entry per declaration)."""
    rules: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if match := re.match(r"(?:rule|checkpoint)\s+(\w+)\s*:", line):
            current = rules.setdefault(match.group(1), [])
        elif line and not line[0].isspace() and not line.startswith("#"):
            current = None  # the rule's block ended
        elif current is not None and (match := re.match(r"    (\w+)\s*:", line)):
            current.append(match.group(1))
    return rules


def all_rules() -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {}
    for path in RULE_FILES:
        for name, directives in rule_directives(path.read_text()).items():
            assert name not in rules, f"rule {name} is defined twice"
            rules[name] = directives
    return rules


def test_the_parser_sees_a_duplicated_directive():
    text = "rule a:\n    input:\n        'x',\n    params:\n        p=1,\n    log:\n        'l',\n    params:\n        q=2,\n\n\nrule b:\n    output:\n        'y',\n"
    assert rule_directives(text) == {"a": ["input", "params", "log", "params"], "b": ["output"]}


def test_every_rule_file_is_read():
    rules = all_rules()
    assert {"all", "acquire_data", "prepare_data", "make_partition", "fetch_model", "run_federation", "write_report"} <= set(rules)
    assert rules["prepare_data"][:2] == ["input", "output"]


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_no_rule_declares_a_directive_twice(path):
    for name, directives in rule_directives(path.read_text()).items():
        twice = sorted(d for d, n in Counter(directives).items() if n > 1)
        assert not twice, f"{path.name}: rule {name} declares {twice} more than once (Snakemake keeps only the last)"


def test_every_rule_that_runs_a_job_declares_mem_mb_and_runtime():
    for path in RULE_FILES:
        text = path.read_text()
        for block in re.split(r"\n(?=rule \w+:)", text):
            match = re.match(r"rule (\w+):", block)
            if not match or not re.search(r"^    (script|shell|run|wrapper):", block, re.MULTILINE):
                continue  # target-only rules (all, all_data) start no job
            resources = re.search(r"^    resources:\n((?:        .*\n?)+)", block, re.MULTILINE)
            assert resources, f"{path.name}: rule {match.group(1)} declares no resources"
            assert "mem_mb=" in resources.group(1) and "runtime=" in resources.group(1), f"rule {match.group(1)}"


def test_data_inputs_are_ancient_only_when_restored():
    # ancient() stops a rerun upstream from reaching its consumers (Snakemake skips the
    # propagation when every input is ancient), so it is applied only through data_input, which
    # marks a folder ancient when DVC restored it (fhbench.grid.restored_data).
    texts = {path.name: path.read_text() for path in RULE_FILES}
    assert {name for name, text in texts.items() if "ancient(" in text} == {"common.smk"}
    assert "return ancient(path) if grid.restored_data(path) else path" in texts["common.smk"]
    inputs = {
        rule: texts[file].split(f"rule {rule}:")[1].split("output:")[0]
        for file, rule in (("data.smk", "prepare_data"), ("partition.smk", "make_partition"), ("train.smk", "run_federation"))
    }
    assert "data_input(prepare_input)" in inputs["prepare_data"]
    assert "data_input(prepared_input)" in inputs["make_partition"]
    assert "data=data_input(run_data)" in inputs["run_federation"] and "split=run_split" in inputs["run_federation"]
