"""The pip pins (requirements.txt) and the conda environment (environment.yml) list the same packages."""

import importlib.util
import os
import re
import subprocess
import sys

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
    medmnist = "medmnist==" + re.search(r"^MEDMNIST := (\S+)$", makefile, re.M).group(1)
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


def lock_pins():
    lines = (REPO / "requirements.lock").read_text().splitlines()
    return {canonical(x.split("==")[0]): x.split("==")[1] for x in lines if x and not x.startswith("#")}


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_holds_every_pin_at_its_version():
    # `make env` installs requirements.txt constrained by requirements.lock: a pin changed without
    # `make lock` would make the install fail, or worse, the lock silently disagree with the pins.
    from packaging.version import Version

    lock = lock_pins()
    for name, version in pins_from_requirements().items():
        assert canonical(name) in lock, f"{name} is pinned in requirements.txt but not in requirements.lock: make lock"
        assert Version(lock[canonical(name)]).public == version, (name, version, lock[canonical(name)])
    assert lock["medmnist"] == re.search(r"^MEDMNIST := (\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    assert "torchvision" not in lock


def test_the_environment_is_the_lock():
    # Every locked package is installed at its locked version (the environment CI and users get).
    import importlib.metadata

    installed = {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    wrong = {n: (v, installed.get(n)) for n, v in lock_pins().items() if installed.get(n) != v}
    assert not wrong, f"installed versions differ from requirements.lock (locked, installed): {wrong}; make env"


def run_uv_index_args(tmp_path, **pip_env):
    # pip's real `config list`, with no configuration files and only the given PIP_* variables.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull, **pip_env}
    out = subprocess.run([sys.executable, str(REPO / "tools" / "uv_index_args.py")], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_uv_is_told_where_pip_looks(tmp_path):
    args = run_uv_index_args(
        tmp_path,
        PIP_FIND_LINKS=str(tmp_path / "wheels"),
        PIP_EXTRA_INDEX_URL="file:///mirror/a/simple file:///mirror/b/simple",
        PIP_CONSTRAINT=str(tmp_path / "c.txt"),
        PIP_TIMEOUT="30",  # not an index setting: no uv option
    )
    pairs = sorted(zip(args[::2], args[1::2]))
    assert pairs == sorted(
        [
            ("--find-links", str(tmp_path / "wheels")),
            ("--extra-index-url", "file:///mirror/a/simple"),
            ("--extra-index-url", "file:///mirror/b/simple"),
            ("--constraint", str(tmp_path / "c.txt")),
        ]
    )
    assert run_uv_index_args(tmp_path) == []  # plain pip: uv's defaults (PyPI) are pip's too


def test_uv_index_args_reads_each_section_and_ignores_others():
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import uv_index_args
    finally:
        sys.path.pop(0)
    listing = "\n".join(
        [
            "global.index-url='https://mirror.example/simple'",
            "install.find-links='/w1 /w2'",
            ":env:.find-links='/w1'",  # the same place from PIP_FIND_LINKS: once
            "download.find-links='/not-for-install'",
            "global.no-index='true'",
            "global.cert='/etc/ssl/certs/ca.crt'",
        ]
    )
    settings = uv_index_args.pip_settings(listing)
    assert settings == {"index-url": ["https://mirror.example/simple"], "find-links": ["/w1", "/w2"], "no-index": ["true"]}
    assert uv_index_args.uv_args(settings) == [
        "--index-url",
        "https://mirror.example/simple",
        "--find-links",
        "/w1",
        "--find-links",
        "/w2",
        "--no-index",
    ]
    assert "--no-index" not in uv_index_args.uv_args({"no-index": ["false"]})
