"""DVC round trip on the demo data: repro, push to a local remote, fresh clone + pull, and
Snakemake sees nothing to redo after the checkout. Real git, real DVC, real Snakemake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhbench import grid
from fhbench.config import validate_config
from tests.conftest import copy_repo

BIN = Path(sys.executable).parent  # dvc and snakemake of the test environment


def run(cmd: str, cwd: Path, env: dict) -> str:
    done = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, f"{cmd} failed in {cwd}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def environment(repo: Path) -> dict:
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(repo / "src"),  # the copy's code, not the checkout the tests run from
        HF_HUB_OFFLINE="1",
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="fhbench test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="fhbench test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    return env


def tracked_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for sub in ("raw", "prepared", "partitions")
        for p in sorted((root / "resources" / sub).rglob("*"))
        if p.is_file() and p.name != ".snakemake_timestamp"
    }


@pytest.mark.slow
def test_dvc_repro_push_clone_pull_and_snakemake_has_nothing_to_do(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    (repo / "dvc.lock").unlink(missing_ok=True)  # built here from scratch
    env = environment(repo)
    datasets = list(yaml.safe_load((repo / "config" / "demo.yaml").read_text())["datasets"])
    run("git init -q && git add -A && git commit -qm workflow", repo, env)

    run("dvc repro", repo, env)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert sorted(lock["stages"]) == sorted(f"demo_data@{d}" for d in datasets)
    demo = validate_config(yaml.safe_load((repo / "config" / "demo.yaml").read_text()))
    for d in datasets:
        assert (repo / grid.prepared_dir(demo, d) / "labels.npy").exists()
        assert (repo / grid.split_path(demo, d, "fhbench")).exists()
    original = tracked_files(repo)
    assert len(original) >= 4 * len(datasets)
    # The demo config asks for a warm worker, but data-only invocations run no federated runs.
    assert not (repo / grid.logs_dir(demo) / "warm_worker.log").exists()

    remote = tmp_path / "remote"
    run(f"dvc remote add -d local {remote} && dvc push -q && git add -A && git commit -qm data", repo, env)
    assert any(remote.rglob("*"))

    clone = tmp_path / "clone"
    run(f"git clone -q {repo} {clone}", tmp_path, env)
    env = environment(clone)
    assert not (clone / "resources").exists()
    run("dvc pull -q", clone, env)
    restored = tracked_files(clone)
    assert sorted(restored) == sorted(original)
    assert all(restored[name] == data for name, data in original.items()), "dvc pull restored different bytes"
    assert "up to date" in run("dvc status", clone, env)

    # A checkout may leave raw files newer than what was made from them: make it so on purpose.
    for d in datasets:
        for p in (clone / "resources" / "raw" / d).rglob("*"):
            os.utime(p)
    dry = run("snakemake -n all_data --configfile config/demo.yaml", clone, env)
    assert "Nothing to be done" in dry, dry
    # The same files deleted are rebuilt: the dry run does look at them.
    (clone / grid.split_path(demo, datasets[0], "fhbench")).unlink()
    dry = run("snakemake -n all_data --configfile config/demo.yaml", clone, env)
    assert "make_partition" in dry and "Nothing to be done" not in dry
