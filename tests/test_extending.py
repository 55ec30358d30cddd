"""docs/extending.md as a user follows it: every command run, every excerpt the examples' code.

The commands run in order in a fresh copy of the repository with a fresh ``.venv`` of its own:
a venv that sees the project's installed packages (through a ``.pth`` line, offline) but into
which ``pip`` installs the two worked examples, so the project's environment stays as it was.
Its ``fhbench`` and ``snakemake`` are the real commands run by that venv's Python, so the
plugins' entry points reach the CLI, Snakemake and every job it starts.

Conventions of the page this test relies on: a ```bash block holds one command per line (a
line with ``# fails`` must fail); a ```text block right after a ```bash block lists lines its
commands print; a ```python, ```toml or ```yaml block opens with ``# <path>`` and is a verbatim
excerpt of that file.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from tests.bounded import CHILD_TIMEOUT_S
from tests.conftest import copy_repo

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "extending.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)


@dataclass
class Step:
    commands: list[str]
    expected: list[str] = field(default_factory=list)  # lines the commands print, from the ```text block after them


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def steps(text: str) -> list[Step]:
    found: list[Step] = []
    previous = None
    for language, body in fenced_blocks(text):
        if language == "bash":
            lines = [line.strip() for line in body.splitlines()]
            found.append(Step([line for line in lines if line and not line.startswith("#")]))
        elif language == "text" and previous == "bash":
            found[-1].expected = [line for line in body.splitlines() if line.strip()]
        previous = language
    return found


def excerpts(text: str) -> list[tuple[str, str]]:
    """(file, excerpt) of every code block that names its file on its first line."""
    found = []
    for language, body in fenced_blocks(text):
        first, _, rest = body.partition("\n")
        if language in ("python", "toml", "yaml") and first.startswith("# examples/"):
            found.append((first[2:].strip(), rest))
    return found


def squeeze(text: str) -> str:
    return " ".join(text.split())


def test_every_excerpt_is_the_examples_own_code():
    found = excerpts(DOC.read_text())
    assert len(found) >= 8, "the page shows the examples' code"
    for path, excerpt in found:
        assert excerpt in (REPO / path).read_text(), f"docs/extending.md quotes {path}, which no longer reads so"
    named = {path for path, _ in found}
    assert {"examples/fedrep/src/fhbench_fedrep/fedrep.py", "examples/organmnist3d/src/fhbench_organmnist3d/dataset.py"} <= named
    assert {"examples/organmnist3d/src/fhbench_organmnist3d/videomae.py", "examples/fedrep/pyproject.toml"} <= named


def test_the_page_runs_what_it_promises():
    commands = [c for step in steps(DOC.read_text()) for c in step.commands]
    assert any(c.startswith(".venv/bin/python -m pip install --no-deps --no-build-isolation examples/fedrep") for c in commands)
    assert any("examples/organmnist3d" in c and "pip install" in c for c in commands)
    assert any(c.startswith(".venv/bin/snakemake") and "fedrep/default/seed0/metrics.csv" in c for c in commands)
    assert commands[-2].startswith(".venv/bin/python -m pip uninstall")


def fresh_venv(folder: Path) -> Path:
    """A venv at ``folder`` seeing the running environment's packages, with fhbench's two commands."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, capture_output=True, timeout=CHILD_TIMEOUT_S)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
    )
    # addsitedir, not a bare path: the shared site's own .pth files (the editable fhbench) must be read too.
    (Path(purelib.stdout.strip()) / "shared-environment.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
    )
    for command, module in (("fhbench", "fhbench.cli"), ("snakemake", "snakemake")):
        script = folder / "bin" / command
        script.write_text(f'#!/bin/sh\nexec "$(dirname "$0")/python" -m {module} "$@"\n')
        script.chmod(0o755)
    return python


HEAVY_MODULES = ("torch", "transformers", "fhbench_fedrep.fedrep", "fhbench_organmnist3d.videomae")
DRY_RUN = (
    "import atexit, sys\n"
    f"atexit.register(lambda: print('imported:', sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)))\n"
    "sys.argv = ['snakemake', '-n', '--forceall', '--cores', '1', '--configfile', 'examples/organmnist3d/demo.yaml']\n"
    "from snakemake.cli import main\n"
    "main()\n"
)


def check_what_the_plugins_made(repo: Path, run) -> None:
    """With both plugins installed and the page's runs done: the tables hold them, a dry run imports
    neither them nor torch, and the project's own environment never saw them."""
    metrics = pd.read_csv(repo / "results/fedrep-demo/runs/organamnist/clients5/fedrep/default/seed0/metrics.csv")
    # Two rounds of results; round 0 holds only the clients' part sizes (split "data").
    assert set(metrics.loc[metrics["split"] != "data", "round"]) == {1, 2} and set(metrics["algorithm"]) == {"fedrep"}
    assert set(metrics.loc[metrics["round"] == 0, "split"]) == {"data"}
    table = pd.read_csv(repo / "results/organmnist3d-demo/tables/main_accuracy.csv")
    assert {"fedavg", "fedrep"} <= set(table["algorithm"]) and set(table["dataset"]) == {"organmnist3d"}
    assert "fedrep" in (repo / "results/organmnist3d-demo/REPORT.md").read_text()
    efficiency = pd.read_csv(repo / "results/organmnist3d-demo/tables/efficiency.csv").set_index("algorithm")
    # FedRep sends the representation (LoRA A and B) and keeps the head; FedAvg sends both.
    assert efficiency.loc["fedrep", "upload_params"] == efficiency.loc["fedrep", ["lora_a_params", "lora_b_params"]].sum()
    assert efficiency.loc["fedavg", "upload_params"] == efficiency.loc["fedavg", "trained_params"]
    datasets = pd.read_csv(repo / "results/organmnist3d-demo/tables/datasets.csv")
    assert datasets.set_index("dataset").loc["organmnist3d", "modality"] == "volume"
    assert run([".venv/bin/python", "-c", DRY_RUN]).splitlines()[-1] == "imported: []"
    for dist in ("fhbench-fedrep", "fhbench-organmnist3d"):
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution(dist)


@pytest.mark.slow
def test_every_command_of_the_page_runs_in_a_fresh_environment(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    fresh_venv(repo / ".venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")}
    env.update(
        PATH=f"{repo / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(repo / "src"),
        PIP_NO_INDEX="1",  # offline: nothing is downloaded
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        HF_HUB_OFFLINE="1",
        DVC_NO_ANALYTICS="1",
    )

    def run(command, fails: bool = False) -> str:
        done = subprocess.run(command, shell=isinstance(command, str), cwd=repo, env=env, capture_output=True, text=True, timeout=1200)
        output = done.stdout + done.stderr
        assert (done.returncode != 0) == fails, f"{command} exited {done.returncode}:\n{output[-4000:]}"
        return output

    for step in steps(DOC.read_text()):
        output = ""
        for command in step.commands:
            if "pip uninstall" in command:
                check_what_the_plugins_made(repo, run)
            output += run(command, fails="# fails" in command)
        for line in step.expected:
            assert squeeze(line) in squeeze(output), f"{step.commands} did not print {line!r}:\n{output[-4000:]}"
    assert "fedrep" not in run([".venv/bin/fhbench", "list"])
