"""`fhbench status` while a real Snakemake grid runs in the background, and after it ends."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import yaml

from fhbench import grid
from fhbench.config import load_config
from tests.bounded import frozen
from tests.conftest import copy_repo

ROUNDS = 30  # about 10 s a run on an idle machine: many looks land while one runs
LOOK_EVERY_S = 0.2  # the runs' time between two looks at the status screen (less than a round)


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
    config["experiments"] = {"main": main | dict(datasets=["organamnist"], metrics=["accuracy"])}
    config["figures"] = {"convergence": config["figures"]["convergence"]}
    config["training"]["rounds"] = ROUNDS
    config["tracking"] = "tensorboard"
    (work / "config/live.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    runs = grid.all_runs(load_config(work / "config/live.yaml"))
    assert len(runs) == 4  # fedavg and epfl, seeds 0 and 1: two at a time on 2 cores

    env = dict(os.environ, PYTHONPATH=str(work / "src"), HF_HUB_OFFLINE="1")
    with open(tmp_path / "snakemake.out", "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "snakemake", "all", "--cores", "2", "--configfile", "config/live.yaml"],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    mid = None
    deadline = time.monotonic() + 1800  # a bound for a hang, not a speed requirement
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            # The grid is stopped while status looks (SIGSTOP on Snakemake and every job under
            # it), so the look costs the runs nothing and they move on only between looks, by
            # LOOK_EVERY_S of their own time: however slow or fast the machine, some look lands
            # between the first run's end and the last run's end, with a run part-way.
            with frozen(proc.pid):
                screen = status_screen(work, "config/live.yaml")
            running = re.findall(r"^  organamnist/fhbench/(\w+)/default/seed\d\s+(\d+)/(\d+)\s", screen, flags=re.MULTILINE)
            if counts(screen)["done"] >= 1 and any(0 < int(k) < int(t) for _, k, t in running):
                mid = screen
                break
            time.sleep(LOOK_EVERY_S)
        returncode = proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
    output = (tmp_path / "snakemake.out").read_text()
    assert returncode == 0, output[-3000:]
    assert mid is not None, "no status screen showed a finished run next to a running one"
    print("\n--- mid-run ---\n" + mid)
    got = counts(mid)
    assert got["runs"] == 4 and got["running"] >= 1 and got["done"] >= 1 and got["failed"] == 0
    assert f"/{ROUNDS}" in mid and "s/round" in mid and "ETA" in mid and "projected finish:" in mid

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
    config["tracking"] = "none"
    (work / "config/live.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "all", "-n", "--cores", "2", "--configfile", "config/live.yaml"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]
