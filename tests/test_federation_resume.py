"""Preemption safety: a run SIGKILLed between rounds or mid-save resumes and ends byte-identical.

This is what happens on a cluster when a job is preempted and requeued, or when Snakemake
retries a killed job: the process dies without warning, the next one finds ``last.pt``.
The run kills itself with SIGKILL at a chosen point (between two rounds, or in the middle of
writing a checkpoint), so where the kill lands never depends on the machine's speed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
KILL_ROUND = 4
# Only a guard against a hang: the outcome does not depend on how long a run takes.
RUN_TIMEOUT_S = 900

# `fhbench run` whose process SIGKILLs itself at save of round $KILL_ROUND: once that round's
# checkpoint is complete ("between-rounds"), or half-way through writing it ("mid-save").
SELF_KILLING_RUN = """
import os, signal, sys
import torch
import fhbench.federation as federation
from fhbench.cli import main

kill_round, moment = int(os.environ["KILL_ROUND"]), os.environ["KILL_MOMENT"]
save, torch_save = federation.Federation.save_checkpoint, torch.save

def half_save(state, handle):
    torch_save(state, handle)
    handle.truncate(handle.tell() // 2)
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)

def save_checkpoint(self, directory, round_):
    if round_ == kill_round and moment == "mid-save":
        torch.save = half_save
    save(self, directory, round_)
    if round_ == kill_round:
        os.kill(os.getpid(), signal.SIGKILL)

federation.Federation.save_checkpoint = save_checkpoint
sys.exit(main(sys.argv[1:]))
"""


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


def start_run(files: dict, out: Path, checkpoints: Path, log: Path, kill: str | None = None) -> subprocess.Popen:
    """``fhbench run`` in a fresh process, its progress lines going to ``log``; ``kill``: the moment it kills itself."""
    launcher = ["-m", "fhbench.cli"] if kill is None else ["-c", SELF_KILLING_RUN]
    cmd = [
        sys.executable,
        *launcher,
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
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1", KILL_ROUND=str(KILL_ROUND), KILL_MOMENT=kill or "")
    env.pop("FHBENCH_WORKER", None)  # the run must happen in the process that kills itself
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
@pytest.mark.parametrize(
    "moment, participation",
    [("between-rounds", {}), ("mid-save", {}), ("between-rounds", {"count": 2, "dropout": 0.25})],
    ids=["between-rounds", "mid-save", "partial-with-dropout"],
)
def test_sigkilled_run_resumes_to_identical_metrics(tmp_path, run_files, moment, participation):
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

    out, ckpt, log = tmp_path / "resumed" / "metrics.csv", tmp_path / "resumed_ckpt", tmp_path / "killed.log"
    proc = start_run(run_files, out, ckpt, log, kill=moment)
    try:
        proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    assert not out.exists(), "a killed run must not leave metrics behind"
    # Killed mid-save, the previous round's checkpoint is still the one on disk, whole.
    saved_round = torch.load(ckpt / CHECKPOINT, weights_only=False)["round"]
    assert saved_round == (KILL_ROUND if moment == "between-rounds" else KILL_ROUND - 1), saved_round
    assert bool(list(ckpt.glob(f".{CHECKPOINT}.*"))) == (moment == "mid-save")  # the half-written save's leftover

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
