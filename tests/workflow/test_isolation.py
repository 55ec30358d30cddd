"""Configs never mix (real Snakemake): after a demo slice has run, the paper config plans all its
data and runs anew and reads nothing the demo made; a config changed in one run's settings
plans exactly what depends on them; re-prepared data reruns its splits and runs; a DVC-style
restore (new timestamps) reruns nothing. And --config/--configfile behave as documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhbench import grid
from fhbench.config import load_config, validate_config
from tests.conftest import REPO, copy_repo

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(work: Path, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(work / "src"), HF_HUB_OFFLINE="1")
    done = subprocess.run(SNAKEMAKE + list(args), cwd=work, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def plan(work: Path, *args: str) -> tuple[dict[str, int], set[str], set[str]]:
    """A dry run's job counts per rule, and every input and output path of its jobs."""
    text = snakemake(work, "-n", "--cores", "2", *args)
    if "Nothing to be done" in text:
        return {}, set(), set()
    stats = text[text.index("Job stats:") :]
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE) if m[1] != "total"}
    paths = {kind: set() for kind in ("input", "output")}
    for kind, line in re.findall(r"^\s+(input|output): (.+)$", text, re.MULTILINE):
        paths[kind].update(p.strip() for p in line.split(","))
    return counts, paths["input"], paths["output"]


def rule_count(work: Path, *args: str) -> dict[str, int]:
    text = snakemake(work, "-n", "--quiet", "rules", "--cores", "2", *args)
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.MULTILINE) if m[1] != "total"}


def write_config(work: Path, name: str, config: dict) -> str:
    (work / "config" / name).write_text(yaml.safe_dump(config, sort_keys=False))
    return f"config/{name}"


def slice_config(work: Path) -> dict:
    """config/demo.yaml cut to OrganAMNIST, FedAvg and EPFL, one seed, 6 rounds (two runs)."""
    config = yaml.safe_load((work / "config/demo.yaml").read_text())
    config["datasets"] = {"organamnist": config["datasets"]["organamnist"]}
    config["backbones"] = {"vit_tiny": config["backbones"]["vit_tiny"]}
    config["experiments"] = {"main": dict(config["experiments"]["main"], datasets=["organamnist"], algorithms=["fedavg", "epfl"])}
    config["figures"] = {k: v for k, v in config["figures"].items() if v["experiment"] == "main"}
    config.pop("tuning", None)  # its tuned experiment is cut too
    config["training"]["rounds"] = 6
    config["seeds"] = [0]
    return config


def test_config_on_the_command_line_goes_over_the_default_config(tmp_path):
    work = copy_repo(tmp_path / "repo")
    paper = load_config(REPO / "config/config.yaml")
    demo = load_config(REPO / "config/demo.yaml")
    # One key over the default config: the paper grid with one seed.
    counts = rule_count(work, "all", "--config", "seeds=[0]")
    assert counts["run_federation"] == len(grid.all_runs(dict(paper, seeds=[0]))) == len(grid.all_runs(paper)) // 3
    assert counts["acquire_data"] == len(paper["datasets"])
    # Nested values keep their YAML types (the schema would reject rounds: '3'), and the rest of
    # the default config stays.
    text = snakemake(
        work, "-n", "--cores", "2", "results/paper/tables/weights_accuracy.csv", "--config", "seeds=[1]", "training={rounds: 3}"
    )
    assert "results/paper/runs/organamnist/fhbench/epfl/weights_uniform/seed1/metrics.csv" in text and "seed0/" not in text
    # A --configfile replaces the default config (no paper-only experiments or partitions) ...
    counts = rule_count(work, "all", "--configfile", "config/demo.yaml")
    assert counts["run_federation"] == len(grid.all_runs(demo))
    assert counts["make_partition"] == len({grid.split_path(demo, d, p) for d, p in grid.data_partitions(demo)})
    # ... and --config goes over it in turn.
    counts = rule_count(work, "all", "--configfile", "config/demo.yaml", "--config", "seeds=[0]")
    assert counts["run_federation"] == len(
        grid.all_runs(validate_config(dict(yaml.safe_load((REPO / "config/demo.yaml").read_text()), seeds=[0])))
    )


@pytest.mark.slow
def test_demo_and_paper_never_mix_and_reruns_fire_where_they_must(tmp_path):
    work = copy_repo(tmp_path / "repo")
    small = slice_config(work)
    configfile = write_config(work, "slice.yaml", small)
    snakemake(work, "all", "--cores", "2", "--configfile", configfile)
    made = {str(p.relative_to(work)) for root in ("resources", "results") for p in (work / root).rglob("*")}
    demo_runs = [k for k in grid.all_runs(validate_config(small))]
    assert all((work / k.info).exists() for k in demo_runs)

    # The paper config plans every acquisition, preparation, split, model and run anew ...
    paper = load_config(REPO / "config/config.yaml")
    counts, inputs, outputs = plan(work, "all")
    assert counts["acquire_data"] == counts["prepare_data"] == len(paper["datasets"])
    assert counts["make_partition"] == len(
        {grid.split_path(paper, d, p) for d, p in grid.data_partitions(paper) + grid.used_data_partitions(paper)}
    )
    assert counts["fetch_model"] == len({grid.model_dir(paper, b) for b in paper["backbones"]})
    assert counts["run_federation"] == len(grid.all_runs(paper))
    # ... and reads nothing the demo made: every input is made by the plan itself (or is a source file).
    assert not inputs & made, sorted(inputs & made)[:5]
    assert {i for i in inputs - outputs} <= {"report/deviations.yaml"}
    assert not any(p.startswith("results/demo") or "/demo-" in p for p in inputs | outputs)

    # One run's settings changed, same name: exactly the runs concerned, and what is made of them.
    tables = set(grid.final_targets(validate_config(small)))
    lr = write_config(work, "lr.yaml", dict(small, datasets={"organamnist": dict(small["datasets"]["organamnist"], lr=0.07)}))
    counts, _, outputs = plan(work, "all", "--configfile", lr)
    assert {o for o in outputs if o.endswith("metrics.csv")} == {k.metrics for k in demo_runs}
    assert set(counts) == {"run_federation", "make_table", "plot_figure", "judge_claims", "write_report", "all"}
    assert {o for o in outputs if not any(o.startswith(k.directory + "/") for k in demo_runs)} <= tables
    epfl = dict(small, algorithms=dict(small["algorithms"], epfl=dict(small["algorithms"]["epfl"], self_weight=0.6)))
    counts, _, outputs = plan(work, "all", "--configfile", write_config(work, "epfl.yaml", epfl))
    assert {o for o in outputs if o.endswith("metrics.csv")} == {k.metrics for k in demo_runs if k.algorithm == "epfl"}
    assert counts["run_federation"] == 1 and "prepare_data" not in counts and "make_partition" not in counts

    # Data prepared anew reruns its splits and every run made from it.
    # (Both preparations: the dataset's, and the public draw its demo backbone is pretrained on, which is pretrained again.)
    counts, _, _ = plan(work, "all", "--configfile", configfile, "--forcerun", "prepare_data")
    assert counts["prepare_data"] == 2 and counts["pretrain_model"] == 1
    assert counts["make_partition"] == 1 and counts["run_federation"] == len(demo_runs)
    assert "acquire_data" not in counts

    # A DVC checkout rewrites data files (never Snakemake's .snakemake_timestamp marker, which
    # .dvcignore leaves out) in no particular order: here raw and prepared files end up newer
    # than what was made from them. Nothing reruns.
    def restore(folders):
        for p in sorted(p for folder in folders for p in (work / "resources" / folder).rglob("*")):
            if p.name != ".snakemake_timestamp":
                os.utime(p)

    restore(["partitions", "raw", "prepared"])
    assert plan(work, "all", "--configfile", configfile) == ({}, set(), set())
    # Data folders DVC restored into a fresh workspace have no marker at all: taken as current too.
    for folder in ("raw", "prepared"):
        for marker in (work / "resources" / folder).rglob(".snakemake_timestamp"):
            marker.unlink()
    restore(["partitions", "raw", "prepared"])
    assert plan(work, "all", "--configfile", configfile) == ({}, set(), set())
