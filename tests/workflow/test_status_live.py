"""`fhbench status` while a real Snakemake grid runs in the background, and after it ends."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

from fhbench import grid
from fhbench.config import load_config, validate_config
from tests.conftest import copy_repo

ROUNDS = 30
# One more run that cannot end while the test looks (a variant with this many rounds): the screen
# shows it mid-way next to finished runs however fast or slow the machine, so no poll races a run
# to its end. The grid is then stopped, the endless run dropped from the config, and finished.
ENDLESS_ROUNDS = 10**6


HANG_GUARD_S = 1800  # only against a hang: nothing below waits for a moment that can pass


def load_config_dict(config: dict) -> dict:
    return validate_config(json.loads(json.dumps(config)))


def status_screen(work, configfile: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(work / "src"))
    done = subprocess.run(
        [sys.executable, "-m", "fhbench.cli", "status", "--config", configfile],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def counts(screen: str, experiment: str = "all") -> dict[str, int]:
    header = next(line.split() for line in screen.splitlines() if line.startswith("experiment"))
    row = next(line.split() for line in screen.splitlines() if line.split()[:1] == [experiment])
    return dict(zip(header[1:], map(int, row[1:])))


@pytest.mark.slow
def test_status_of_a_grid_mid_run_and_at_the_end(tmp_path):
    work = copy_repo(tmp_path / "repo")
    config = yaml.safe_load((work / "config/demo.yaml").read_text())
    # Smaller than the demo's twin and 6 clients: about 0.3 s a round on an idle 2-core machine.
    config["datasets"] = {
        "organamnist": dict(
            config["datasets"]["organamnist"], demo={"image_size": 28, "n_train": 300, "n_val": 80, "n_test": 120, "seed": 0}
        )
    }
    config["partitions"] = {"fhbench": dict(config["partitions"]["fhbench"], n_clients=6)}
    config["backbones"] = {"vit_tiny": config["backbones"]["vit_tiny"]}
    main = {k: v for k, v in config["experiments"]["main"].items() if k != "references"}  # two methods, two seeds
    config["experiments"] = {"main": main | dict(datasets=["organamnist"], metrics=["accuracy"], seeds=[0, 1])}
    config["figures"] = {"convergence": config["figures"]["convergence"]}
    config.pop("tuning", None)  # its tuned experiment is cut too
    config["training"]["rounds"] = ROUNDS
    config["tracking"] = "tensorboard"
    finite = dict(config)
    config["variants"] = dict(config["variants"], endless={"training": {"rounds": ENDLESS_ROUNDS}})
    config["experiments"] = dict(
        config["experiments"],
        endless=dict(main, datasets=["organamnist"], algorithms=["fedavg"], variants=["endless"], seeds=[0], metrics=["accuracy"]),
    )
    (work / "config/live.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert len(grid.all_runs(load_config(work / "config/live.yaml"))) == 5
    runs = grid.all_runs(load_config_dict(finite))
    assert len(runs) == 4  # fedavg and epfl, seeds 0 and 1: two at a time on 2 cores

    env = dict(os.environ, PYTHONPATH=str(work / "src"), HF_HUB_OFFLINE="1")
    with open(tmp_path / "snakemake.out", "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "snakemake", "all", "--cores", "2", "--configfile", "config/live.yaml"],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to be stopped whole
        )
    mid = None
    deadline = time.monotonic() + HANG_GUARD_S
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            screen = status_screen(work, "config/live.yaml")
            running = re.findall(r"^  organamnist/fhbench/(\w+)/(\w+)/seed\d\s+(\d+)/(\d+)\s", screen, flags=re.MULTILINE)
            # Wait for the endless run itself: Snakemake may schedule it last, after the others.
            endless = any(int(k) > 0 and int(total) == ENDLESS_ROUNDS for _, _, k, total in running)
            if counts(screen)["done"] >= 1 and endless:
                mid = screen
                break
            time.sleep(2.0)  # each look costs about a second of CPU, taken from the grid
    finally:
        # Stopped as a crash or a preemption would stop it: Snakemake, its jobs and the warm worker
        # at once (on Ctrl-C Snakemake would wait for the endless run); the lock it leaves is removed.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=HANG_GUARD_S)
    unlock = [sys.executable, "-m", "snakemake", "--unlock", "--cores", "1", "--configfile", "config/live.yaml"]
    assert subprocess.run(unlock, cwd=work, env=env, capture_output=True, timeout=HANG_GUARD_S).returncode == 0
    assert mid is not None, (tmp_path / "snakemake.out").read_text()[-3000:]
    print("\n--- mid-run ---\n" + mid)
    got = counts(mid)
    assert got["runs"] == 5 and got["running"] >= 1 and got["done"] >= 1 and got["failed"] == 0
    assert f"/{ENDLESS_ROUNDS}" in mid and "s/round" in mid and "ETA" in mid and "projected finish:" in mid

    # The grid without the endless run, finished.
    (work / "config/live.yaml").write_text(yaml.safe_dump(finite, sort_keys=False))
    with open(tmp_path / "snakemake.out", "w") as out:
        returncode = subprocess.run(
            [sys.executable, "-m", "snakemake", "all", "--cores", "2", "--rerun-incomplete", "--configfile", "config/live.yaml"],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=HANG_GUARD_S,
        ).returncode
    output = (tmp_path / "snakemake.out").read_text()
    assert returncode == 0, output[-3000:]

    end = status_screen(work, "config/live.yaml")
    print("--- at the end ---\n" + end)
    assert counts(end) == {"runs": 4, "done": 4, "diverged": 0, "running": 0, "stalled": 0, "failed": 0, "pending": 0}
    assert "grid finished: 4 done, 0 diverged, 0 failed" in end
    # The workflow's own closing summary.
    print("--- snakemake all ends with ---\n" + "\n".join(line for line in output.splitlines() if line.startswith("fhbench: ")))
    assert "fhbench: 4 runs: 4 done, 0 diverged, 0 failed" in output
    name = yaml.safe_load((work / "config/live.yaml").read_text())["name"]
    results = f"results/{name}"
    assert re.search(
        rf"fhbench: \d+ table files in {results}/tables/; \d+ figure files in {results}/figures/; report {results}/REPORT.md", output
    )
    # tracking: tensorboard reached every run through the workflow, and turning it off reruns nothing.
    for key in runs:
        assert list((work / f"{key.directory}/tensorboard").glob("events.out.tfevents.*")), key
    finite["tracking"] = "none"
    (work / "config/live.yaml").write_text(yaml.safe_dump(finite, sort_keys=False))
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "all", "-n", "--cores", "2", "--configfile", "config/live.yaml"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]
