"""``fhbench status`` on synthetic result folders: every state, the screen, the projected finish."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from fhbench import grid, status
from fhbench.config import validate_config
from fhbench.progress import RoundProgress, format_duration
from tests.conftest import REPO

NOW = 1_800_000_000.0


@pytest.fixture
def config() -> dict:
    """The demo config cut to 4 + 2 runs (one run shared by both experiments), 10 rounds each."""
    demo = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    demo["datasets"] = {"organamnist": demo["datasets"]["organamnist"]}
    demo["backbones"] = {"vit_tiny": demo["backbones"]["vit_tiny"]}
    demo["experiments"] = {
        # without the reference rows (local, centralized): two methods, two seeds
        "main": {k: v for k, v in demo["experiments"]["main"].items() if k != "references"}
        | dict(datasets=["organamnist"], algorithms=["fedavg", "epfl"], seeds=[0, 1]),
        "rank": {k: v for k, v in demo["experiments"]["rank"].items() if k != "references"}
        | dict(algorithms=["epfl"], variants=["default", "rank4"]),
    }
    demo["figures"] = {}
    demo.pop("tuning", None)  # its tuned experiment is cut too
    demo["training"]["rounds"] = 10  # the figures below count 10 rounds, whatever the demo runs
    return validate_config(demo)


def key(algorithm="fedavg", seed=0, variant="default") -> grid.RunKey:
    return grid.RunKey("organamnist", "fhbench", algorithm, variant, seed, name="demo")  # the config fixture's name


def write(path: Path, text: str, age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (NOW - age, NOW - age))
    return path


def log_text(k: grid.RunKey, rounds_done: int, rounds: int = 10, seconds: float = 2.0) -> str:
    """A run's log as the engine writes it (lines made by fhbench.progress itself)."""
    clock = iter([0.0] + [seconds * (i + 1) for i in range(rounds_done)])
    progress = RoundProgress(k.label, rounds, clock=lambda: next(clock))
    lines = ["first training step done at unix time 1.0"]
    for r in range(1, rounds_done + 1):
        acc = f" · val acc {0.1 * r:.3f}" if r % 2 == 0 else ""
        lines.append(progress.line(r, f"20 clients · lr 5.00e-02 · loss 1.0000{acc}"))
        progress.last = seconds * r
    return "\n".join(lines) + "\n"


def finish(root: Path, config: dict, k: grid.RunKey, state: str = "completed", wall: float = 20.0) -> None:
    write(root / k.metrics, "dataset,partition\n")
    write(root / grid.run_info(config, k), json.dumps({"status": state, "wall_seconds": wall, "config": {"rounds": 10}}))


def test_log_lines_parse_back(config):
    k = key()
    parsed = status.parse_log(log_text(k, 5, seconds=3.0))
    assert (parsed.round, parsed.rounds, parsed.val_acc, parsed.seconds_per_round, parsed.failed) == (5, 10, 0.4, 3.0, False)
    assert "ETA 15s" in log_text(k, 5, seconds=3.0).splitlines()[-1]
    failed = status.parse_log(log_text(k, 3) + "Traceback (most recent call last):\n  File x\nRuntimeError: CUDA out of memory\n")
    assert failed.failed and failed.round == 3 and failed.lines[-1] == "RuntimeError: CUDA out of memory"
    # A retry resumed from its checkpoint: the round it resumed after, until it logs a new one.
    resumed = status.parse_log("resuming from results/checkpoints/x/last.pt after round 7\n")
    assert (resumed.round, resumed.seconds_per_round) == (7, None)
    # A traceback of an earlier attempt followed by new rounds is not a failure.
    assert not status.parse_log("Traceback (most recent call last):\n" + log_text(k, 2)).failed


def test_every_state_from_files(tmp_path, config):
    runs = grid.all_runs(config)
    assert len(runs) == 5
    finish(tmp_path, config, key("fedavg", 0), wall=20.0)  # 2 s per round
    finish(tmp_path, config, key("fedavg", 1), state="diverged")
    write(tmp_path / grid.log_path(config, key("epfl", 0)), log_text(key("epfl", 0), 4, seconds=3.0), age=5)  # running
    write(
        tmp_path / grid.log_path(config, key("epfl", 1)),
        log_text(key("epfl", 1), 2) + "Traceback (most recent call last):\nValueError: bad split\n",
        age=5,
    )  # failed
    statuses = {s.key: s for s in status.collect(config, tmp_path, now=NOW)}
    assert {k: s.state for k, s in statuses.items()} == {
        key("fedavg", 0): "done",
        key("fedavg", 1): "diverged",
        key("epfl", 0): "running",
        key("epfl", 1): "failed",
        key("epfl", 0, "rank4"): "pending",
    }
    running = statuses[key("epfl", 0)]
    assert (running.round, running.rounds, running.val_acc, running.seconds_per_round) == (4, 10, 0.4, 3.0)
    assert running.eta(NOW) == pytest.approx(6 * 3.0 - 5)
    assert statuses[key("epfl", 1)].tail[-1] == "ValueError: bad split"
    assert statuses[key("fedavg", 0)].seconds_per_round == 2.0

    counts = status.counts_by_experiment(config, list(statuses.values()))
    assert counts["main"] == {"done": 1, "diverged": 1, "running": 1, "failed": 1}
    assert counts["rank"] == {"running": 1, "pending": 1}  # epfl seed 0 default is in both experiments
    assert sum(counts["all"].values()) == 5

    # Left: the running run's 13 s, and the pending epfl/rank4 run's 10 rounds at the pace of the
    # epfl runs measured so far (3 s and 2 s per round); the diverged run stopped early and is no measure.
    seconds, parallel, measured = status.projected_finish(list(statuses.values()), NOW)
    assert (seconds, parallel, measured) == (pytest.approx(13 + 25), 1, 3)
    assert status.projected_finish(list(statuses.values()), NOW, parallel=2)[0] == pytest.approx(25)  # the longest run

    assert status.workflow_summary(config, tmp_path).splitlines()[0] == (
        "fhbench: 5 runs: 1 done, 1 diverged, 1 failed, 1 running, 1 pending"
    )
    screen = status.render(config, list(statuses.values()), NOW, title="cfg.yaml")
    assert "organamnist/fhbench/epfl/default/seed0" in screen and " 4/10 " in screen and "0.400" in screen
    assert "| ValueError: bad split" in screen
    assert f"(in {format_duration(38)}) for 2 runs to go, 1 at a time" in screen


def test_stale_runs_and_checkpoints_without_logs(tmp_path, config):
    """A results folder copied from a cluster: no logs, only checkpoints; old files are stalled, fresh ones running."""
    for k, age in ((key("epfl", 0), 3600), (key("epfl", 1), 30)):
        ckpt = tmp_path / grid.checkpoint_dir(config, k) / status.CHECKPOINT
        ckpt.parent.mkdir(parents=True)
        rows = [(k.dataset, k.partition, k.algorithm, k.variant, k.seed, 2, c, "val", "accuracy", 0.5 + c / 10) for c in range(3)]
        rows += [(k.dataset, k.partition, k.algorithm, k.variant, k.seed, 3, 0, "train", "loss", 1.0)]
        torch.save({"round": 3, "rows": rows, "clients": [], "server": {}}, ckpt)
        os.utime(ckpt, (NOW - age, NOW - age))
    write(tmp_path / grid.log_path(config, key("fedavg", 0)), log_text(key("fedavg", 0), 7), age=7200)
    statuses = {s.key: s for s in status.collect(config, tmp_path, now=NOW, stale=600)}
    old, fresh, stopped = statuses[key("epfl", 0)], statuses[key("epfl", 1)], statuses[key("fedavg", 0)]
    assert (old.state, old.round, old.val_acc) == ("stalled", 3, pytest.approx(0.6))
    assert (fresh.state, fresh.round) == ("running", 3)
    assert (stopped.state, stopped.round) == ("stalled", 7)
    screen = status.render(config, list(statuses.values()), NOW)
    assert "stalled (2)" in screen and "2h00m ago" in screen
    # A slow run (an hour per round) is running for three of its rounds, not only for `stale`.
    write(tmp_path / grid.log_path(config, key("fedavg", 0)), log_text(key("fedavg", 0), 7, seconds=3600), age=7200)
    assert status.run_status(config, key("fedavg", 0), tmp_path, NOW, stale=600).state == "running"


def test_divergence_without_run_json(tmp_path, config):
    """Divergence as the engine records it in metrics.csv (its last row), when run.json is missing."""
    from fhbench.federation import Federation, RunConfig

    k = key("fedavg", 0)
    engine = Federation.__new__(Federation)
    engine.config = RunConfig.from_dict(grid.resolve_run_config(config, k))
    engine.rows = []
    engine._row(1, 0, "train", "loss", 2.0)
    engine._row(2, -1, "run", "diverged", 1.0)  # what Federation.run appends when a round diverges
    (tmp_path / k.directory).mkdir(parents=True)
    engine.metrics_frame().to_csv(tmp_path / k.metrics, index=False)
    assert status.run_status(config, k, tmp_path, NOW).state == "diverged"
    finish(tmp_path, config, key("fedavg", 1))
    (tmp_path / grid.run_info(config, key("fedavg", 1))).unlink()
    assert status.run_status(config, key("fedavg", 1), tmp_path, NOW).state == "done"


def test_checkpoint_file_name_is_the_engines():
    from fhbench.federation import CHECKPOINT

    assert status.CHECKPOINT == CHECKPOINT


def test_finished_grid_and_workflow_summary(tmp_path, config):
    for k in grid.all_runs(config):
        finish(tmp_path, config, k, state="diverged" if k.algorithm == "fedavg" and k.seed == 1 else "completed")
    statuses = status.collect(config, tmp_path, now=NOW)
    assert "grid finished: 4 done, 1 diverged, 0 failed" in status.render(config, statuses, NOW)
    for target in grid.table_targets(config)[:3] + grid.report_targets(config):
        write(tmp_path / target, "x")
    summary = status.workflow_summary(config, tmp_path, Path("config/x.yaml"))  # Snakemake's configfiles are paths
    assert summary.splitlines()[0] == "fhbench: 5 runs: 4 done, 1 diverged, 0 failed"
    assert "3 table files in results/demo/tables/" in summary and "report results/demo/REPORT.md" in summary and "no figures" in summary
    assert "fhbench status --config config/x.yaml" in summary  # a diverged run: say where to look


def row(screen: str, experiment: str) -> list[str]:
    """The counts of an experiment's row on the last screen in ``screen``."""
    rows = [line.split()[1:] for line in screen.splitlines() if line.split()[:1] == [experiment]]
    return rows[-1] if rows else []


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, "-m", "fhbench.cli", "status", *args], capture_output=True, text=True, env=env, **kw)


def test_cli_on_a_copied_folder(tmp_path, config):
    (tmp_path / "config").mkdir()
    (tmp_path / "config/grid.yaml").write_text(yaml.safe_dump(config))
    finish(tmp_path, config, key("fedavg", 0))
    log = write(tmp_path / grid.log_path(config, key("epfl", 0)), log_text(key("epfl", 0), 6), age=0)
    os.utime(log)  # written now
    done = cli("--config", "config/grid.yaml", "--root", str(tmp_path), cwd=tmp_path.parent)
    assert done.returncode == 0, done.stderr
    assert "running (1)" in done.stdout and "6/10" in done.stdout
    assert row(done.stdout, "main") == ["4", "1", "0", "1", "0", "0", "2"]  # runs, then STATES in order
    bad = cli("--config", "nowhere.yaml", cwd=tmp_path)
    assert bad.returncode == 2 and "nowhere.yaml" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "config/broken.yaml").write_text(yaml.safe_dump(dict(config, seeds="zero")))
    broken = cli("--config", "config/broken.yaml", cwd=tmp_path)
    assert broken.returncode == 2 and "seeds" in broken.stderr


def test_watch_redraws_until_interrupted(tmp_path, config, monkeypatch, capsys):
    """--watch draws, pauses, draws again with what changed, and ends quietly on Ctrl-C.

    The loop runs in this process with its pause replaced: the first pause finishes a run, the
    second is the Ctrl-C. Two screens exactly, whatever the machine's speed (it used to race a
    60 s wall clock with a blocking readline, and failed on a busy machine).
    """
    from fhbench.cli import main

    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(config))
    pauses = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 1:
            finish(tmp_path, config, key("fedavg", 0))  # the next screen shows the run done
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", pause)
    argv = ["status", "--config", str(tmp_path / "grid.yaml"), "--root", str(tmp_path), "--watch", "0.3"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    screens = captured.out.split("fhbench status ·")[1:]
    assert pauses == [0.3, 0.3] and len(screens) == 2, captured.out
    assert row(screens[0], "main")[:2] == ["4", "0"] and row(screens[1], "main")[:2] == ["4", "1"]
    assert "Traceback" not in captured.err


def test_paths_are_the_ones_the_run_rule_writes(config):
    """status finds a run's files where rules/train.smk puts them: both take them from fhbench.grid."""
    rule = (REPO / "rules/train.smk").read_text()
    for pattern in ("PATHS['run']}/metrics.csv", "PATHS['run']}/run.json", 'PATHS["run_log"]', 'checkpoints=PATHS["checkpoints"]'):
        assert pattern in rule
    k = key("epfl", 1)
    paths = {name: grid.wildcard_paths(config)[name].format(**k.__dict__) for name in ("run", "run_log", "checkpoints")}
    assert paths["run_log"] == grid.log_path(config, k)
    assert paths["checkpoints"] == grid.checkpoint_dir(config, k)
    assert f"{paths['run']}/metrics.csv" == k.metrics
    assert f"{paths['run']}/run.json" == grid.run_info(config, k)


def test_a_real_failed_job_shows_its_error(tmp_path, config, demo_organamnist):
    """The run script's own failure path (model folder missing) leaves a log that status reads as failed."""
    k = key("epfl", 0)
    log = tmp_path / grid.log_path(config, k)
    kwargs = {
        "config": grid.resolve_run_config(config, k),
        "prepared_dir": str(demo_organamnist),
        "split_path": "none.json",
        "model_dir": str(tmp_path / "no_model"),
        "metrics_out": str(tmp_path / k.metrics),
    }
    code = f"from fhbench.worker import call; call('fhbench.federation:run_federation', {kwargs!r}, log={str(log)!r})"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1")
    env.pop("FHBENCH_WORKER", None)
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300).returncode != 0
    failed = status.run_status(config, k, tmp_path, time.time())
    assert failed.state == "failed", log.read_text()
    assert failed.tail[-1].startswith("fhbench: error: ") and "no_model" in failed.tail[-1]  # the one error line ends the log
    assert f"| {failed.tail[-1]}" in status.render(config, [failed], time.time())
