"""The GPU-readiness script runs end to end in its CPU smoke mode (the lead runs the real size on a GPU)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_gpu_round_smoke(repo):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(repo / "src"))
    out = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / "gpu_round.py"), "--smoke", "--clients", "2", "--backbones", "vit", "nosuch"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {line.split()[1]: line.split() for line in out.stdout.splitlines() if line.startswith("ViT-B/16")}
    assert set(rows) == {"sequential", "batched"}
    for row in rows.values():
        assert float(row[2]) > 0 and float(row[4]) > 0  # samples/s and FLOPs per sample were measured
    assert "nosuch" in out.stdout and "skipped" in out.stdout
    assert "projected wall time on one node of 8 GPUs" in out.stdout
