"""The warm worker: a run handed to it over its socket ends exactly like a run in its own process,
fails loudly, dies with the job that asked for it, and the worker dies with its owner."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fhbench import worker
from fhbench.federation import run_federation
from fhbench.io import write_json
from fhbench.partition import make_partition
from tests.bounded import CHILD_TIMEOUT_S, wait_until
from tests.conftest import REPO

TARGET = "fhbench.federation:run_federation"


@pytest.fixture(scope="module")
def split(demo_organamnist, tmp_path_factory):
    labels = np.load(demo_organamnist / "labels.npy")
    path = tmp_path_factory.mktemp("split") / "split.json"
    write_json(path, make_partition(labels, "fhbench", 4, 0.1, 1.0, 2025).to_json(labels.astype(int).ravel()))
    return path


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A worker owned by this test process, preloading only the engine (the rest loads on demand)."""
    started = worker.start(tmp_path_factory.mktemp("worker") / "worker.log", preload=("fhbench.federation",))
    yield started
    started.stop()
    assert started.process.returncode is not None


def run_kwargs(tmp_path, demo_organamnist, split, model, rounds=3, name="run") -> dict:
    config = {
        "dataset": "organamnist",
        "partition": "fhbench",
        "algorithm": "epfl",
        "seed": 1,
        "backbone": "vit_tiny",
        "architecture": "vit",
        "rounds": rounds,
        "lr": 0.05,
        "batch_size": 16,
        "eval_every": 1,
        "lora": {"rank": 4, "alpha": 8, "dropout": 0.0},
        "algorithm_params": {"self_weight": 0.5},
    }
    out = tmp_path / name
    return dict(
        config=config,
        prepared_dir=demo_organamnist,
        split_path=split,
        model_dir=model,
        metrics_out=out / "metrics.csv",
        checkpoint_dir=out / "ckpt",
        run_info_out=out / "run.json",
    )


def test_run_in_worker_equals_run_in_own_process(tmp_path, monkeypatch, warm, demo_organamnist, split, tiny_vit_dir):
    direct = run_kwargs(tmp_path, demo_organamnist, split, tiny_vit_dir, name="direct")
    assert run_federation(**direct) == "completed"

    monkeypatch.setenv(worker.WORKER_ENV, warm.address)
    forked = run_kwargs(tmp_path, demo_organamnist, split, tiny_vit_dir, name="forked")
    log = tmp_path / "forked.log"
    assert worker.call(TARGET, forked, log=log) == "completed"
    text = log.read_text()
    assert re.search(r"fhbench worker: pid \d+ runs fhbench.federation:run_federation", text), text
    assert "round 3/3" in text
    assert forked["metrics_out"].read_bytes() == direct["metrics_out"].read_bytes()
    assert not forked["checkpoint_dir"].exists()


def test_failure_in_worker_reaches_the_job(tmp_path, monkeypatch, warm, demo_organamnist, split):
    monkeypatch.setenv(worker.WORKER_ENV, warm.address)
    kwargs = run_kwargs(tmp_path, demo_organamnist, split, tmp_path / "no_such_model")
    log = tmp_path / "failed.log"
    with pytest.raises(worker.WorkerError, match="failed in the warm worker") as error:
        worker.call(TARGET, kwargs, log=log)
    assert "no_such_model" in str(error.value)
    assert error.value.code == 2 and error.value.line.startswith("fhbench: error: no model in")  # bad input, as in-process
    assert "Traceback" in log.read_text()
    assert not kwargs["metrics_out"].exists()
    assert warm.process.poll() is None, "one failed job must not take the worker down"


def test_killed_job_kills_its_run(tmp_path, warm, demo_organamnist, split, tiny_vit_dir):
    # A run that cannot end before it is killed, however fast the machine (each deadline below
    # only guards against a hang; none is raced).
    kwargs = run_kwargs(tmp_path, demo_organamnist, split, tiny_vit_dir, rounds=10**6)
    log = tmp_path / "killed.log"
    client = subprocess.Popen(
        [sys.executable, "-c", f"from fhbench.worker import call; call({TARGET!r}, {worker_json(kwargs)}, log={str(log)!r})"],
        env=dict(os.environ, **{worker.WORKER_ENV: warm.address}, PYTHONPATH=str(REPO / "src")),
    )
    try:

        def started() -> bool:
            assert client.poll() is None, f"the job ended before its run's first round: {log_text(log)}"
            return f"round 1/{10**6}" in log_text(log)

        wait_until(started, "the run's first round in the worker", seen=lambda: f"Its log: {log_text(log)}")
        pid = int(re.search(r"fhbench worker: pid (\d+)", log.read_text()).group(1))
        client.send_signal(signal.SIGKILL)  # what Snakemake does to a cancelled job, or the OOM killer
        client.wait(timeout=CHILD_TIMEOUT_S)
    finally:
        if client.poll() is None:
            client.kill()
    # Gone, and reaped by the worker (a bound for a hang, not a speed requirement).
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), f"the run (pid {pid}) to end with its killed job")
    assert not kwargs["metrics_out"].exists()
    assert warm.process.poll() is None


def log_text(log: Path) -> str:
    return log.read_text()[-3000:] if log.exists() else "(no log yet)"


def worker_json(kwargs: dict) -> str:
    return repr({k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items()})


def test_without_worker_the_job_runs_here(tmp_path, monkeypatch, demo_organamnist, split, tiny_vit_dir):
    # A socket nobody listens on (the workflow ended, or a cluster node): run in this process.
    monkeypatch.setenv(worker.WORKER_ENV, str(tmp_path / "gone.socket"))
    kwargs = run_kwargs(tmp_path, demo_organamnist, split, tiny_vit_dir, rounds=1)
    log = tmp_path / "here.log"
    saved = sys.stdout, sys.stderr
    try:
        assert worker.call(TARGET, kwargs, log=log) == "completed"
    finally:
        sys.stdout, sys.stderr = saved
    assert "round 1/1" in log.read_text() and "fhbench worker" not in log.read_text()
    assert kwargs["metrics_out"].exists()


def test_worker_ends_with_its_owner(tmp_path):
    owner = subprocess.Popen(["sleep", "600"])
    started = worker.start(tmp_path / "worker.log", owner_pid=owner.pid, preload=())
    try:
        assert Path(started.address).exists()
        owner.kill()
        owner.wait(timeout=CHILD_TIMEOUT_S)
        try:
            started.process.wait(timeout=CHILD_TIMEOUT_S)  # it polls its owner; a bound for a hang only
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker outlived its owner by {CHILD_TIMEOUT_S} s")
        assert not Path(started.address).exists()
    finally:
        started.stop()


def test_only_fhbench_functions_are_served():
    with pytest.raises(ValueError, match="os:system"):
        worker.resolve("os:system")
    assert worker.resolve(TARGET) is run_federation


def test_warm_caches_builds_transformers_conversion_table_before_any_fork(monkeypatch):
    # Every run's from_pretrained would otherwise build this table itself (about 0.25 s each);
    # built in the worker before it forks, each child inherits it.
    import transformers.conversion_mapping as conversion

    from fhbench.worker import warm_caches

    monkeypatch.setattr(conversion, "_checkpoint_conversion_mapping_cache", None)
    warm_caches()
    assert conversion._checkpoint_conversion_mapping_cache  # built, with entries
    built = conversion._checkpoint_conversion_mapping_cache
    conversion.get_checkpoint_conversion_mapping("vit")
    assert conversion._checkpoint_conversion_mapping_cache is built  # later loads reuse it


def test_the_fetch_model_rule_writes_the_same_tiny_model_in_the_worker(tmp_path, monkeypatch, warm):
    # workflow/scripts/fetch_model.py hands fhbench.models:write_model to the worker: the model
    # folder it writes there is byte for byte the one written in the job's own process.
    tiny = {"image_size": 28, "patch_size": 7, "num_channels": 3, "hidden_size": 32, "num_hidden_layers": 1}
    kwargs = dict(architecture="vit", hf_id="google/vit-base-patch16-224", tiny=tiny)
    worker.call("fhbench.models:write_model", dict(kwargs, out_dir=tmp_path / "direct"))
    monkeypatch.setenv(worker.WORKER_ENV, warm.address)
    log = tmp_path / "fetch.log"
    worker.call("fhbench.models:write_model", dict(kwargs, out_dir=tmp_path / "forked"), log=log)
    assert re.search(r"fhbench worker: pid \d+ runs fhbench.models:write_model", log.read_text())
    direct = sorted(p.relative_to(tmp_path / "direct") for p in (tmp_path / "direct").rglob("*") if p.is_file())
    forked = sorted(p.relative_to(tmp_path / "forked") for p in (tmp_path / "forked").rglob("*") if p.is_file())
    assert direct and direct == forked
    for name in direct:
        assert (tmp_path / "direct" / name).read_bytes() == (tmp_path / "forked" / name).read_bytes(), name
