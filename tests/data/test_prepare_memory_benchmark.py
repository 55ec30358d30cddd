"""benchmarks/prepare_memory.py end to end at a small scale: one row per dataset with a verdict."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_prepare_memory_benchmark_small(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1")
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "prepare_memory.py"),
        "--datasets",
        "icbhi",
        "medabs",
        "--scale",
        "0.2",
        "--workdir",
        str(tmp_path / "w"),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith(("icbhi", "medabs"))}
    assert set(rows) == {"icbhi", "medabs"}
    for line in rows.values():
        assert line.endswith("projected <= 2 GB: PASS")
    icbhi = rows["icbhi"].split()
    peak_small, peak_large = float(icbhi[5].rstrip("/")), float(icbhi[6])
    assert 0 < peak_small and 0 < peak_large < 1000  # MB: a fresh process with numpy, pandas, soundfile
    assert "6,898" in rows["icbhi"]  # projected to the published cycle count
    assert not list((tmp_path / "w").iterdir()), "each twin is removed after its measurement"
