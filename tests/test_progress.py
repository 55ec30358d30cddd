"""Progress inside a run: round k/T, loss, elapsed and ETA in each line; a bar only in a terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from fhbench.io import write_json
from fhbench.partition import make_partition
from fhbench.progress import ROUND_LINE, RoundProgress, format_duration
from tests.bounded import read_until_closed
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.4, "59s"), (61, "1m01s"), (3600 * 2 + 7 * 60, "2h07m"), (86400 + 3 * 3600, "1d03h")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_eta_is_the_measured_pace_times_the_rounds_left():
    times = iter([100.0, 104.0, 110.0])  # start, then rounds 1 and 2 end after 4 s and 6 s
    lines = []
    progress = RoundProgress("d/p/a/v/seed0", 10, log=lines.append, clock=lambda: next(times))
    progress.round_done(1, "loss 2.0000")
    progress.round_done(2, "loss 1.5000 · val acc 0.250")
    assert lines[1] == "[d/p/a/v/seed0] round 2/10 · loss 1.5000 · val acc 0.250 · 6.0s · 5.00s/round · elapsed 10s · ETA 40s"
    match = ROUND_LINE.match(lines[1])
    assert (match["name"], match["round"], match["rounds"]) == ("d/p/a/v/seed0", "2", "10")


def test_resumed_run_measures_only_its_own_rounds():
    times = iter([0.0, 30.0])
    progress = RoundProgress("r", 100, start_round=51, log=lambda m: None, clock=lambda: next(times))
    assert progress.round_done(51, "loss 1").endswith("30.0s · 30.00s/round · elapsed 30s · ETA 24m30s")


@pytest.fixture(scope="module")
def run_args(demo_organamnist, tiny_vit_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_run")
    labels = np.load(demo_organamnist / "labels.npy")
    write_json(root / "split.json", make_partition(labels, "fhbench", 3, 0.5, 1.0, 2025).to_json(labels.astype(int).ravel()))
    config = dict(
        dataset="organamnist",
        partition="fhbench",
        algorithm="fedavg",
        seed=0,
        backbone="vit_tiny",
        architecture="vit",
        rounds=3,
        lr=0.05,
        batch_size=16,
        eval_every=1,
        lora={"rank": 4, "alpha": 8, "dropout": 0.0},
    )
    (root / "run.yaml").write_text(yaml.safe_dump(config))
    return root, [
        "-m",
        "fhbench.cli",
        "run",
        "--config",
        str(root / "run.yaml"),
        "--prepared",
        str(demo_organamnist),
        "--split",
        str(root / "split.json"),
        "--model",
        str(tiny_vit_dir),
    ]


def env() -> dict:
    out = dict(os.environ, PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1", COLUMNS="150")
    out.pop("FHBENCH_WORKER", None)
    return out


def test_fhbench_run_in_a_terminal_shows_a_bar(run_args):
    root, args = run_args
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, *args, "--out", str(root / "tty" / "metrics.csv")], stdin=terminal, stdout=terminal, stderr=terminal, env=env()
    )
    os.close(terminal)
    try:
        output = read_until_closed(controller, "the terminal of `fhbench run`")
    finally:
        os.close(controller)
        if proc.poll() is None:  # a hung run is ended, not left behind
            proc.kill()
    assert proc.wait(timeout=600) == 0, output.decode(errors="replace")[-3000:]
    text = output.decode(errors="replace")
    assert re.search(r"organamnist/fhbench/fedavg/default/seed0: 100%\|.*\| 3/3 \[", text), text[-3000:]
    assert "\r" in text  # the bar redraws in place
    assert "round 3/3 · 3 clients" in text  # the plain lines are printed above it
    assert (root / "tty" / "metrics.csv").exists()


def test_fhbench_run_into_a_file_writes_plain_lines(run_args):
    root, args = run_args
    with open(root / "run.log", "w") as log:
        subprocess.run(
            [sys.executable, *args, "--out", str(root / "file" / "metrics.csv")], stdout=log, stderr=log, env=env(), check=True, timeout=600
        )
    text = (root / "run.log").read_text()
    assert "\r" not in text and "|" not in text
    lines = [line for line in text.splitlines() if ROUND_LINE.match(line)]
    assert [ROUND_LINE.match(line)["round"] for line in lines] == ["1", "2", "3"]
    assert all(re.search(r"loss \d\.\d{4} .* elapsed \d+s · ETA \d+s$", line) for line in lines), lines
