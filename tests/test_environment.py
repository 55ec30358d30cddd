"""The pip pins (requirements.txt) and the conda environment (environment.yml) list the same packages."""

import importlib.util
import re

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
