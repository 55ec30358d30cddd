"""The pip pins (requirements.txt) and the conda environment (environment.yml) list the same packages."""

import importlib.util
import re

import pytest
import yaml

from tests.conftest import REPO


def pins_from_requirements():
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return {x.split("==")[0].lower(): x.split("==")[1] for x in (x.split("#")[0].strip() for x in lines) if x}


def pins_from_environment():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {p.split("==")[0].lower(): p.split("==")[1] for p in pip}


def test_requirements_and_environment_agree():
    assert pins_from_requirements() == pins_from_environment()


def test_every_package_is_pinned_and_torch_is_the_cpu_pin():
    text = (REPO / "requirements.txt").read_text()
    for line in (raw.split("#")[0].strip() for raw in text.splitlines()):
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9_.]*", line), line
    assert pins_from_requirements()["torch"] == "2.13.0"
    assert "torchvision" not in pins_from_requirements()


def test_torchvision_is_not_installed():
    # It breaks transformers beside the CPU torch (ENVIRONMENT.md).
    assert importlib.util.find_spec("torchvision") is None


def test_the_conda_environment_is_completed_by_its_post_deploy_script():
    # Snakemake runs <env>.post-deploy.sh after creating a rule's conda environment: with it,
    # environment.yml gives `--sdm conda` everything `make env` installs.
    script = (REPO / "environment.post-deploy.sh").read_text()
    makefile = (REPO / "Makefile").read_text()
    medmnist = re.search(r"medmnist==[0-9.]+", makefile).group(0)
    assert f"pip install --no-deps {medmnist}" in script
    assert "pip install --no-deps --no-build-isolation -e ." in script
    assert script.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in script
    for smk in (REPO / "rules").glob("*.smk"):
        envs = set(re.findall(r'conda:\n\s+"([^"]+)"', smk.read_text()))
        assert envs <= {"../environment.yml"}, smk.name


def test_a_missing_test_dependency_skips_locally_and_fails_in_ci(monkeypatch):
    from tests.conftest import require_module

    assert require_module("yaml", "config files") is yaml
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no_such_module_xyz is not installed"):
        require_module("no_such_module_xyz", "a test needs it")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but no_such_module_xyz is not installed"):
        require_module("no_such_module_xyz", "a test needs it")


def test_the_tls_tests_dependency_is_pinned():
    # tests/tls_mirror.py makes certificates with it; it must not arrive only through another package.
    assert "cryptography" in pins_from_requirements()
    assert importlib.util.find_spec("cryptography") is not None
