"""A partial-participation run SIGKILLed mid-run resumes to byte-identical metrics.csv and participation.csv.

The same preemption as tests/test_federation_resume.py (a fresh process, killed without warning
after a random round, finds ``last.pt``), with 2 of 4 clients asked per round and 25% dropout.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time

import pytest
import torch
import yaml

from fhbench.federation import CHECKPOINT, run_federation
from tests.test_federation_resume import KILL_BY_ROUND, ROUNDS, RUN_TIMEOUT_S, finish, run_files, start_run  # noqa: F401 (fixture)

FILES = ("metrics.csv", "participation.csv", "mixing.csv")


@pytest.mark.slow
def test_sigkilled_partial_run_resumes_to_identical_files(tmp_path, run_files):  # noqa: F811 (the imported fixture)
    config = yaml.safe_load(run_files["config"].read_text()) | {"participation": {"count": 2, "dropout": 0.25}}
    run_files["config"].write_text(yaml.safe_dump(config))
    reference = tmp_path / "reference" / "metrics.csv"
    args = (run_files["prepared"], run_files["split"], run_files["model"])
    assert run_federation(config, *args, reference, tmp_path / "ref_ckpt") == "completed"

    kill_after = random.SystemRandom().randint(2, KILL_BY_ROUND)
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
    assert not out.exists() and not out.with_name("participation.csv").exists()
    saved_round = torch.load(ckpt / CHECKPOINT, weights_only=False)["round"]
    assert kill_after - 1 <= saved_round < ROUNDS

    resumed_log = tmp_path / "resumed.log"
    text = finish(start_run(run_files, out, ckpt, resumed_log), resumed_log)
    assert f"after round {saved_round}" in text
    for name in FILES:
        assert out.with_name(name).read_bytes() == reference.with_name(name).read_bytes(), name
    part = out.with_name("participation.csv").read_text().splitlines()
    assert len(part) == 1 + ROUNDS * 4 and any(line.endswith(",1,0") for line in part)  # someone dropped out
