"""Lint and format are enforced: ruff (lint + format) over the Python, snakefmt over the workflow.

The same three checks run as pre-commit hooks (.pre-commit-config.yaml); the rules live in
pyproject.toml. To fix a failure: ``ruff check --fix . && ruff format . && snakefmt .``
(then fix by hand what ruff cannot).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECKS = {
    "ruff check": ["ruff", "check", "--no-cache", "."],
    "ruff format": ["ruff", "format", "--check", "--no-cache", "."],
    "snakefmt": ["snakefmt", "--check", "--compact-diff", "."],  # the diff names each file
}


def tool(name: str) -> str:
    """The tool installed beside this interpreter (the project venv), else on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (it is pinned in requirements.txt: make env)")
    return found


def run_check(name: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [tool(CHECKS[name][0]), *CHECKS[name][1:]]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", list(CHECKS))
def test_repository_passes(name):
    done = run_check(name, REPO)
    assert done.returncode == 0, f"`{' '.join(CHECKS[name])}` found problems:\n{done.stdout}\n{done.stderr}"


def test_the_checks_fail_on_a_misformatted_file(tmp_path):
    """With the repository's own settings, each check rejects a file that breaks its rules."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "bad.py").write_text("import os\nimport sys\nx = {  'a':1 }\nprint(sys.argv,x)\n")  # unused os, spacing
    (tmp_path / "Snakefile").write_text('rule a:\n    output: "a.txt"\n    shell: "touch {output}"\n')
    results = {name: run_check(name, tmp_path) for name in CHECKS}
    assert "F401" in results["ruff check"].stdout  # `os` imported but unused
    assert results["ruff format"].returncode != 0 and "bad.py" in results["ruff format"].stdout
    assert results["snakefmt"].returncode != 0 and "Diff for Snakefile" in results["snakefmt"].stdout
    assert all(r.returncode != 0 for r in results.values())


def test_pre_commit_runs_the_same_tools():
    import yaml

    hooks = [h for repo in yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"] for h in repo["hooks"]]
    entries = [h["entry"].split()[:2] for h in hooks]
    assert ["ruff", "check"] in entries and ["ruff", "format"] in entries and ["snakefmt"] in [e[:1] for e in entries]
    snakefmt = next(h for h in hooks if h["entry"].startswith("snakefmt"))
    import re

    assert re.search(snakefmt["files"], "Snakefile") and re.search(snakefmt["files"], "rules/data.smk")
