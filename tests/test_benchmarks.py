"""The benchmark scripts run end to end with tiny settings on the CPU (real sizes need a GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_gpu_vit_round_smoke_on_cpu():
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", HF_HUB_OFFLINE="1")
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "gpu_vit_round.py"),
        "--small",
        "--device",
        "cpu",
        "--clients",
        "2",
        "--samples",
        "16",
        "--batch-size",
        "8",
        "--rounds",
        "2",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["samples_per_s"] > 0 and result["peak_memory_mb"] > 0
    # Two clients upload and download every trained tensor (LoRA + head), float32.
    assert result["comm_bytes_per_round"] == 2 * 2 * 4 * result["trained_params"]
    assert result["total_params"] > result["trained_params"] > 0


@pytest.mark.slow
def test_gpu_round_smoke(repo):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(repo / "src"))
    out = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / "gpu_round.py"), "--smoke", "--clients", "2", "--backbones", "vit", "nosuch"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {line.split()[1]: line.split() for line in out.stdout.splitlines() if line.startswith("ViT-B/16")}
    assert set(rows) == {"sequential", "batched"}
    for row in rows.values():
        assert float(row[2]) > 0 and float(row[4]) > 0  # samples/s and FLOPs per sample were measured
    assert "nosuch" in out.stdout and "skipped" in out.stdout
    assert "projected wall time on one node of 8 GPUs" in out.stdout
