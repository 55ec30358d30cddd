"""The package as a user installs it: a wheel built from the sources, in a fresh venv.

The wheel is built from a copy of exactly what it packages (pyproject.toml, README, LICENSE,
src/), so nothing else of the checkout leaks in. The fresh venv sees the pinned requirements of
the shared environment through a ``.pth`` line (offline: nothing is downloaded) and gets the
wheel itself with ``pip --no-index``; its ``fhbench`` command and every registry then run from
the installed copy, not from src/.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# Every entry of every registry resolved once: each dataset, algorithm, backbone, table and figure kind.
IMPORT_EVERY_REGISTRY = """
import fhbench
from fhbench.algorithms import ALGORITHMS
from fhbench.data import DATASETS
from fhbench.models import BACKBONES
from fhbench.reporting import FIGURE_KINDS, TABLE_KINDS
for registry in (ALGORITHMS, DATASETS, BACKBONES, FIGURE_KINDS, TABLE_KINDS):
    assert len(registry) and all(registry[name] is not None for name in registry)
print(fhbench.__file__)
print(len(ALGORITHMS), len(DATASETS), len(BACKBONES), len(FIGURE_KINDS), len(TABLE_KINDS))
"""


def pinned_requirements() -> dict[str, str]:
    """requirements.txt as name → pinned version."""
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            pins[req.name.lower().replace("_", "-")] = next(iter(req.specifier)).version
    return pins


def test_every_declared_range_admits_the_pinned_version():
    pins = pinned_requirements()
    declared = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    declared += [Requirement(r) for extra in PYPROJECT["project"]["optional-dependencies"].values() for r in extra]
    build = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]  # pinned for the build without isolation
    declared += build
    for req in declared:
        name = req.name.lower().replace("_", "-")
        version = pins.get(name) or importlib.metadata.version(name)  # transitive pins: the installed one
        assert req.specifier.contains(version), f"pyproject.toml: {req} excludes the pinned {name}=={version}"
    # What requirements.txt pins for the package itself (not tools, not medmnist) is declared.
    runtime = {Requirement(r).name.lower() for r in PYPROJECT["project"]["dependencies"]}
    tools = {
        "pytest",
        "ruff",
        "snakefmt",
        "tensorboard",
        "snakemake",
        "snakemake-executor-plugin-slurm",
        "dvc",
        "scikit-learn",
        "librosa",
        "pillow",
        "cryptography",  # the TLS tests' certificates
        "mutmut",  # benchmarks/mutation.py
        "uv",  # the installer of make env
    }
    runtime |= {r.name.lower() for r in build}
    assert set(pins) - tools <= runtime, f"pinned but not declared in pyproject.toml: {sorted(set(pins) - tools - runtime)}"


def test_every_third_party_import_of_the_package_is_declared():
    import ast

    distributions = importlib.metadata.packages_distributions()
    declared = {Requirement(r).name.lower().replace("_", "-") for r in PYPROJECT["project"]["dependencies"]}
    missing = {}
    for path in (REPO / "src" / "fhbench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            )
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("fhbench", "__future__"):
                    continue
                dists = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                if not dists & declared:
                    missing.setdefault(top, str(path.relative_to(REPO)))
    # medmnist is installed without its dependencies (see pyproject.toml); the module says so when it is absent.
    missing.pop("medmnist", None)
    assert not missing, f"imported but not declared in pyproject.toml dependencies: {missing}"


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_runs(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", HF_HUB_OFFLINE="1")

    def run(*cmd, cwd=tmp_path):
        done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", tmp_path / "dist", source)
    (wheel,) = (tmp_path / "dist").glob("fhbench-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel)
    # Only now the pinned requirements become visible (before, pip would see the shared
    # environment's own fhbench and could decline to install the wheel).
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "pinned-requirements.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    metadata = run(python, "-c", "import importlib.metadata as m; print(m.metadata('fhbench'))")
    assert "License-Expression: Apache-2.0" in metadata and "Requires-Dist: torch" in metadata
    assert "usage: fhbench" in run(venv / "bin" / "fhbench", "--help")
    # The config schema travels in the wheel: an installed fhbench validates a config.
    targets = run(venv / "bin" / "fhbench", "data-targets", "--config", REPO / "config" / "demo.yaml", "--dataset", "organamnist")
    assert "resources/prepared/organamnist/demo-" in targets
    out = run(python, "-c", IMPORT_EVERY_REGISTRY).splitlines()
    assert Path(out[0]).is_relative_to(site), f"fhbench imported from {out[0]}, not from the wheel in {site}"
    assert all(int(n) > 0 for n in out[1].split())
    # The declared ranges hold in this environment (what `pip check` would say, medmnist aside).
    check = (
        "import importlib.metadata as m; from packaging.requirements import Requirement as R\n"
        "bad=[r for r in m.requires('fhbench') if 'extra ==' not in r and not R(r).specifier.contains(m.version(R(r).name))]\n"
        "print(bad)"
    )
    assert run(python, "-c", check).strip() == "[]"


def test_license_and_citation_are_there_and_cited_from_the_readme():
    import yaml

    license_text = (REPO / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text  # the full text, not a stub
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["license"] == PYPROJECT["project"]["license"] == "Apache-2.0"
    assert citation["version"] == PYPROJECT["project"]["version"]
    (paper,) = citation["references"]
    assert paper["identifiers"][0]["value"] == "arXiv:2504.10817" and paper["authors"]
    readme = (REPO / "README.md").read_text()
    assert "(LICENSE)" in readme and "(CITATION.cff)" in readme and "(CONTRIBUTING.md)" in readme
