"""Preemption safety: a run SIGKILLed in a random round resumes and ends byte-identical.

This is what happens on a cluster when a job is preempted and requeued, or when Snakemake
retries a killed job: the process dies without warning, the next one finds ``last.pt``.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fhbench.federation import CHECKPOINT, Federation, RunConfig, remove_checkpoints, run_federation
from fhbench.io import write_json
from fhbench.partition import make_partition
from tests.conftest import REPO, TINY_VIT

ROUNDS = 12
# The kill comes in the first third of the run, so that however fast the machine, the rounds left
# outlast the poll and the random delay before the kill.
KILL_BY_ROUND = 4
RUN_TIMEOUT_S = 120


@pytest.fixture
def run_files(tmp_path, demo_organamnist, tiny_vit_dir):
    """A resolved run config (YAML) and a 4-client split of the demo data."""
    labels = np.load(demo_organamnist / "labels.npy")
    split = tmp_path / "split.json"
    write_json(split, make_partition(labels, "fhbench", 4, 0.1, 1.0, 2025).to_json(labels.astype(int).ravel()))
    config = {
        "dataset": "organamnist",
        "partition": "fhbench",
        "algorithm": "epfl",
        "seed": 3,
        "backbone": "vit_tiny",
        "architecture": "vit",
        "rounds": ROUNDS,
        "lr": 0.05,
        "batch_size": 16,
        "eval_every": 2,
        "lora": {"rank": 4, "alpha": 8, "dropout": 0.1},
        "algorithm_params": {"self_weight": 0.5, "layers": "all", "weights": "similarity", "share": "A"},
    }
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump(config))
    assert TINY_VIT["image_size"] == 28  # the demo images are 28 x 28
    return {"config": config_path, "prepared": demo_organamnist, "split": split, "model": tiny_vit_dir}


def start_run(files: dict, out: Path, checkpoints: Path, log: Path) -> subprocess.Popen:
    """``fhbench run`` in a fresh process, its progress lines going to ``log``."""
    cmd = [
        sys.executable,
        "-m",
        "fhbench.cli",
        "run",
        "--config",
        str(files["config"]),
        "--prepared",
        str(files["prepared"]),
        "--split",
        str(files["split"]),
        "--model",
        str(files["model"]),
        "--out",
        str(out),
        "--checkpoints",
        str(checkpoints),
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))


def finish(proc: subprocess.Popen, log: Path) -> str:
    try:
        proc.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"fhbench run did not finish in {RUN_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    return text


@pytest.mark.slow
@pytest.mark.parametrize("participation", [{}, {"count": 2, "dropout": 0.25}], ids=["every-client", "partial-with-dropout"])
def test_sigkilled_run_resumes_to_identical_metrics(tmp_path, run_files, participation):
    # The uninterrupted reference runs in this process (one interpreter start less); the
    # killed and resumed runs are separate processes, as on a cluster. With partial
    # participation (fhbench.participation) 2 of the 4 clients are asked per round, a quarter drop out.
    reference = tmp_path / "reference" / "metrics.csv"
    config = yaml.safe_load(run_files["config"].read_text()) | {"participation": participation}
    run_files["config"].write_text(yaml.safe_dump(config))
    assert (
        run_federation(config, run_files["prepared"], run_files["split"], run_files["model"], reference, tmp_path / "ref_ckpt")
        == "completed"
    )

    # Kill once round `kill_after` has been logged: the process is then saving that round's
    # checkpoint or already training the next round, so the kill may also land mid-save.
    kill_after = random.SystemRandom().randint(2, KILL_BY_ROUND)  # round 1's checkpoint is then on disk
    print(f"\nSIGKILL after round {kill_after}/{ROUNDS} is logged")
    out, ckpt, log = tmp_path / "resumed" / "metrics.csv", tmp_path / "resumed_ckpt", tmp_path / "killed.log"
    proc = start_run(run_files, out, ckpt, log)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not re.search(rf"round {kill_after}/{ROUNDS}\b", log.read_text()):
        assert proc.poll() is None, f"run ended before round {kill_after}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no round {kill_after} within {RUN_TIMEOUT_S}s"
        time.sleep(0.02)
    time.sleep(random.SystemRandom().uniform(0.0, 0.3))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists(), "a killed run must not leave metrics behind"
    # Whatever the moment of the kill, the checkpoint on disk is complete and holds a round >= 1;
    # a fast machine may have finished a round or two more between the log line and the kill.
    saved_round = torch.load(ckpt / CHECKPOINT, weights_only=False)["round"]
    assert kill_after - 1 <= saved_round < ROUNDS, saved_round
    print(f"killed; checkpoint on disk holds round {saved_round}")

    resumed_log = tmp_path / "resumed.log"
    text = finish(start_run(run_files, out, ckpt, resumed_log), resumed_log)
    assert f"after round {saved_round}" in text, text[-2000:]
    assert f"round {saved_round}/{ROUNDS}" not in text  # rounds already done are not redone
    same = out.read_bytes() == reference.read_bytes()
    print(f"resumed run metrics.csv byte-identical to the uninterrupted run: {same}")
    assert same
    for name in ("participation.csv", "mixing.csv"):
        assert out.with_name(name).read_bytes() == reference.with_name(name).read_bytes(), name
    if participation:
        rows = out.with_name("participation.csv").read_text().splitlines()
        assert any(row.endswith(",1,0") for row in rows) and any(row.endswith(",0,0") for row in rows)  # dropped and not asked
    assert not ckpt.exists(), f"a finished run must clean its checkpoint folder: {list(ckpt.iterdir())}"


def test_unreadable_checkpoint_is_ignored(tmp_path, run_files):
    """A damaged last.pt (a crash of the file system, a full disk) restarts from round 1."""
    config = yaml.safe_load(run_files["config"].read_text()) | {"rounds": 2, "algorithm": "fedavg", "algorithm_params": {}}
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / CHECKPOINT).write_bytes(b"not a checkpoint")
    (ckpt / f".{CHECKPOINT}.leftover").mkdir()  # what a save killed mid-way leaves behind
    messages = []
    engine = Federation(RunConfig.from_dict(config), run_files["prepared"], run_files["split"], run_files["model"], log=messages.append)
    assert engine.run(ckpt) == "completed"
    assert any("ignoring unreadable checkpoint" in m for m in messages), messages
    assert engine.start_round == 1
    assert torch.load(ckpt / CHECKPOINT, weights_only=False)["round"] == 2  # replaced by a good one
    remove_checkpoints(ckpt)
    assert not ckpt.exists(), list(ckpt.iterdir())
