"""Shared fixtures. Tests never reach the network: the hub is switched off for every process."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

REPO = Path(__file__).resolve().parents[1]
TINY_VIT = {
    "image_size": 28,
    "patch_size": 4,
    "num_channels": 3,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
}


def require_module(name: str, why: str):
    """Import a test-only dependency. Without it, skip on a developer's machine but fail when CI=true:
    CI must run every test, and a dependency missing there is a broken environment, not an option."""
    try:
        return importlib.import_module(name)
    except ImportError:
        reason = f"{name} is not installed ({why}); requirements.txt pins it: make env"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory) -> Path:
    """A tiny random ViT saved with save_pretrained, loaded like real weights."""
    from fhbench.models import get_backbone

    out = tmp_path_factory.mktemp("models") / "vit_tiny"
    get_backbone("vit").create_tiny(out, TINY_VIT, seed=0)
    return out


@pytest.fixture(scope="session")
def demo_organamnist(tmp_path_factory) -> Path:
    """Prepared demo OrganAMNIST (raw twin generated, then prepared by the real code)."""
    from fhbench.data import acquire, get_dataset

    root = tmp_path_factory.mktemp("organamnist")
    acquire("organamnist", root / "raw", source="demo", demo_options={"n_train": 200, "n_val": 60, "n_test": 100})
    get_dataset("organamnist").prepare(root / "raw", root / "prepared")
    return root / "prepared"


def copy_repo(dest: Path) -> Path:
    """A copy of the workflow files (not results or resources) to run Snakemake in isolation."""
    ignore = shutil.ignore_patterns(".venv", ".git", "resources", "results", "logs", ".snakemake", "__pycache__", "*.egg-info")
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


@pytest.fixture
def http_mirror():
    """Factory: ``with http_mirror(folder) as (base_url, handler): ...`` serves folder on loopback."""
    from tests.http_mirror import serve_directory

    return serve_directory
