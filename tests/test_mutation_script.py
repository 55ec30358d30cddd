"""benchmarks/mutation.py's own logic: which modules and tests, mutant names, equivalents, scores.

The mutation run itself takes minutes to hours (docs/mutation-testing.md); these checks are fast.
"""

from __future__ import annotations

import importlib.util
import tomllib
from collections import Counter

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def mutation():
    spec = importlib.util.spec_from_file_location("mutation_script", REPO / "benchmarks" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_modules_and_their_targeted_tests(mutation):
    modules, missing = mutation.resolve_modules(["algorithms/*.py", "partition.py", "reporting/no_such_module.py"])
    assert "algorithms/epfl.py" in modules and "algorithms/__init__.py" not in modules  # the registry computes nothing
    assert modules["partition.py"][:3] == ["tests/test_partition.py", "tests/test_partition_natural.py", "tests/test_partition_planted.py"]
    assert "tests/test_config.py" in modules["partition.py"]  # check_partition_config is called from the config checks
    assert missing == ["reporting/no_such_module.py"]
    for tests in modules.values():
        assert tests and all((REPO / t).exists() for t in tests)
    every, _ = mutation.resolve_modules(mutation.MODULES)
    assert {"batched.py", "mixing.py", "metrics.py", "reporting/stats.py", "provenance.py"} <= set(every)


def test_workdir_config_mutates_only_the_chosen_modules(mutation, tmp_path):
    modules, _ = mutation.resolve_modules(["provenance.py"])
    mutation.write_workdir(tmp_path / "work", modules)
    settings = tomllib.loads((tmp_path / "work" / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert settings["only_mutate"] == ["src/fhbench/provenance.py"]
    assert settings["pytest_add_cli_args_test_selection"] == sorted(modules["provenance.py"])
    assert settings["do_not_mutate_patterns"] == mutation.SKIP_LINES
    assert (tmp_path / "work" / "src" / "fhbench" / "provenance.py").read_bytes() == (REPO / "src/fhbench/provenance.py").read_bytes()
    assert (tmp_path / "work" / ".git").is_dir()  # tests/test_provenance.py compares git_state with git there


def test_mutant_names_map_to_functions(mutation):
    assert mutation.function_of("fhbench.reporting.stats.x_nemenyi_cd__mutmut_12") == "fhbench.reporting.stats.nemenyi_cd"
    assert mutation.function_of("fhbench.algorithms.apfl.xǁAPFLǁ__post_init____mutmut_2") == "fhbench.algorithms.apfl.APFL.__post_init__"


def test_listed_equivalents_match_by_function_and_mutated_line(mutation):
    diff = "--- a\n+++ b\n@@ -1,2 +1,2 @@\n-    return float('nan')\n+    return float('NAN')"
    rows = [
        {"module": "m.py", "mutant": "fhbench.m.x_f__mutmut_1", "status": "survived", "diff": diff},
        {"module": "m.py", "mutant": "fhbench.m.x_g__mutmut_1", "status": "survived", "diff": diff},
        {"module": "m.py", "mutant": "fhbench.m.x_f__mutmut_2", "status": "killed", "diff": ""},
    ]
    listed = [
        {"function": "fhbench.m.f", "mutated": "return float('NAN')", "why": "float() reads nan in any case"},
        {"function": "fhbench.m.h", "mutated": "x", "why": "gone"},
    ]
    stale = mutation.mark_equivalents(rows, listed)
    assert [r["status"] for r in rows] == ["equivalent", "survived", "killed"]  # g is not listed
    assert rows[0]["why"] == "float() reads nan in any case" and stale == listed[1:]


def test_score_leaves_out_equivalents_and_counts_timeouts_as_kills(mutation):
    line, passed = mutation.score_row("m.py", Counter(killed=80, timeout=5, survived=10, equivalent=5), 0.85)
    assert line == "| m.py | 100 | 80 | 5 | 10 | 0 | 5 | 0 | 89.5% | PASS |" and passed  # 85 / 95
    line, passed = mutation.score_row("m.py", Counter(killed=80, survived=20), 0.85)
    assert line.endswith("| 80.0% | FAIL |") and not passed
    assert mutation.score_row("m.py", Counter(killed=9, **{"not checked": 1}), 0.85)[0].endswith("| 100.0% | incomplete |")
