"""The workflow on a real Slurm cluster: jobs go through ``sbatch`` and give the same outputs.

CI brings the single-node cluster up with ``.ci/setup/slurm.sh`` before the tests (and
``.ci/run`` tears it down after them). On a machine without Slurm the test is skipped, except
under ``CI=true``, where a missing ``sbatch`` means the set-up failed and the test fails.

Every wait has a timeout: a hung status check fails the test instead of hanging CI.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_repo

pytestmark = pytest.mark.slow

ALGORITHMS = ["fedavg", "epfl"]
SNAKEMAKE_TIMEOUT_S = 900  # per Snakemake invocation; a busy 2-core CI machine needs about 2-7 min
QUERY_TIMEOUT_S = 30
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")


def require_slurm() -> None:
    """Skip without Slurm; fail instead when CI promised a cluster (CI=true)."""
    if shutil.which("sbatch") is None:
        reason = "Slurm is not installed (no sbatch on PATH); run .ci/setup/slurm.sh as root to bring up a test cluster"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=QUERY_TIMEOUT_S)
    if "UP" not in ping.stdout:
        pytest.fail(f"sbatch exists but slurmctld does not answer ({ping.stdout.strip()} {ping.stderr.strip()}); run .ci/setup/slurm.sh")


def demo_subset(repo: Path) -> dict:
    """config/demo.yaml cut down to 1 dataset, 2 algorithms, 1 seed and 4 rounds."""
    config = yaml.safe_load((repo / "config" / "demo.yaml").read_text())
    config["seeds"] = [0]
    config["training"].update(rounds=4, eval_every=2)
    config["resources"]["run_federation"].update(gpus=0, cpus=1, mem_mb=1500, runtime=10)
    config["datasets"] = {"organamnist": config["datasets"]["organamnist"]}
    config["datasets"]["organamnist"]["demo"].update(n_train=200, n_val=60, n_test=100)
    config["partitions"]["fhbench"]["n_clients"] = 5
    config["algorithms"] = {name: config["algorithms"][name] for name in ALGORITHMS}
    config["experiments"] = {
        "main": {"datasets": ["organamnist"], "partitions": ["fhbench"], "algorithms": ALGORITHMS, "variants": ["default"]}
    }
    config["figures"] = {k: v for k, v in config.get("figures", {}).items() if v["experiment"] in config["experiments"]}
    config.pop("tuning", None)  # its tuned experiment is cut too
    return config


def targets() -> list[str]:
    # config/test_subset.yaml is cut from config/demo.yaml and keeps its name.
    return [f"results/demo/runs/organamnist/fhbench/{alg}/default/seed0/metrics.csv" for alg in ALGORITHMS]


def start_snakemake(workdir: Path, args: list[str]) -> tuple[subprocess.Popen, Path]:
    """Start Snakemake in its own process group, its output going to a file we can watch."""
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    # Targets first: --configfile and --default-resources take every word after them.
    cmd = [sys.executable, "-m", "snakemake", *targets(), *args, "--configfile", "config/test_subset.yaml"]
    print("$", " ".join(cmd[2:]), f"(in {workdir})", flush=True)
    log = workdir / "snakemake.out"
    with log.open("w") as handle:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def abort(proc: subprocess.Popen, log: Path, why: str) -> None:
    """Kill Snakemake and everything it started, cancel its Slurm jobs, fail the test."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=QUERY_TIMEOUT_S)
    out = log.read_text()
    jobs = SUBMITTED.findall(out)
    if jobs:
        subprocess.run(["scancel", *jobs], timeout=QUERY_TIMEOUT_S)
    pytest.fail(f"{why} (Slurm jobs {jobs} cancelled):\n{out[-4000:]}")


def wait_until(proc: subprocess.Popen, log: Path, what: str, condition, deadline: float) -> None:
    """Poll ``condition`` until it holds; abort on Snakemake exiting first or on the deadline."""
    while not condition():
        if proc.poll() is not None:
            abort(proc, log, f"snakemake exited (rc={proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            abort(proc, log, f"timed out waiting for {what}")
        time.sleep(0.2)


def finish_snakemake(proc: subprocess.Popen, log: Path, deadline: float) -> str:
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        abort(proc, log, f"snakemake did not finish in {SNAKEMAKE_TIMEOUT_S}s")
    out = log.read_text()
    assert proc.returncode == 0, f"snakemake failed (rc={proc.returncode}):\n{out[-6000:]}"
    return out


def squeue_state(job_id: str) -> str:
    result = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=QUERY_TIMEOUT_S)
    return result.stdout.strip()


def sacct(job_ids: list[str]) -> dict[str, dict[str, str]]:
    """The accounting records (one line per job allocation) of ``job_ids``."""
    fields = ["JobID", "JobName", "State", "ExitCode", "Partition", "ReqMem", "Elapsed"]
    result = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", ",".join(fields)],
        capture_output=True,
        text=True,
        timeout=QUERY_TIMEOUT_S,
        check=True,
    )
    rows = [dict(zip(fields, line.split("|"))) for line in result.stdout.splitlines() if line.strip()]
    return {row["JobID"]: row for row in rows}


def test_demo_subset_through_slurm_equals_local_run(tmp_path, repo):
    require_slurm()
    config = demo_subset(repo)
    workdirs = {}
    for name in ("local", "slurm"):
        workdirs[name] = copy_repo(tmp_path / name)
        (workdirs[name] / "config" / "test_subset.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    t0 = time.perf_counter()
    proc, log = start_snakemake(workdirs["local"], ["--cores", "2"])
    finish_snakemake(proc, log, time.monotonic() + SNAKEMAKE_TIMEOUT_S)
    local_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    deadline = time.monotonic() + SNAKEMAKE_TIMEOUT_S
    slurm = workdirs["slurm"]
    proc, log = start_snakemake(
        slurm,
        [
            "--profile",
            "profiles/slurm",
            # Test-cluster overrides: the default 40 s before the first status check would
            # double the run time, and the CI cluster's only partition is `debug`.
            "--slurm-init-seconds-before-status-checks",
            "5",
            "--default-resources",
            "slurm_partition=debug",
            "mem_mb=1000",
            "runtime=10",
            "--latency-wait",
            "10",
        ],
    )
    # Preempt one run as a cluster would: once it has checkpointed a round, requeue its job.
    # Slurm kills it and puts the same job id back in the queue; it must resume, and
    # Snakemake must keep waiting for it.
    run_dir = "organamnist/fhbench/fedavg/default/seed0"
    checkpoint = slurm / "results" / "demo" / "checkpoints" / run_dir / "last.pt"
    wait_until(proc, log, f"a checkpoint of {run_dir}", checkpoint.exists, deadline)
    match = re.search(r"SLURM jobid (\d+) \(log: [^)]*rule_run_federation/[^)]*fedavg", log.read_text())
    assert match, log.read_text()[-3000:]
    requeued = match.group(1)
    assert not (slurm / "results" / "demo" / "runs" / run_dir / "metrics.csv").exists(), "run ended before it could be requeued"
    subprocess.run(["scontrol", "requeue", requeued], check=True, timeout=QUERY_TIMEOUT_S)
    print(f"requeued Slurm job {requeued} after its first checkpoint", flush=True)
    wait_until(proc, log, f"job {requeued} to be pending again", lambda: squeue_state(requeued) == "PENDING", deadline)
    # Slurm holds a requeued job for about 2 minutes; a preempting cluster would let it start
    # when resources free up. Release it now.
    subprocess.run(["scontrol", "update", f"JobId={requeued}", "StartTime=now"], check=True, timeout=QUERY_TIMEOUT_S)
    out = finish_snakemake(proc, log, deadline)
    slurm_s = time.perf_counter() - t0

    job_ids = SUBMITTED.findall(out)
    # prepare_data (the dataset and the public draw its demo backbone is pretrained on),
    # pretrain_model, make_partition and one run per algorithm are cluster jobs; acquire_data
    # and fetch_model are local rules and must not have been submitted.
    cluster_rules = ["rule_prepare_data"] * 2 + ["rule_pretrain_model", "rule_make_partition"] + ["rule_run_federation"] * len(ALGORITHMS)
    assert len(job_ids) == len(cluster_rules), out[-4000:]
    records = sacct(job_ids)
    # Records can reach slurmdbd a little after the job ends: poll briefly, with a limit.
    deadline = time.monotonic() + 60
    while set(records) != set(job_ids) and time.monotonic() < deadline:
        time.sleep(2)
        records = sacct(job_ids)
    print(f"\nSlurm job ids: {' '.join(job_ids)}")
    for job_id in job_ids:
        print("sacct:", " | ".join(records.get(job_id, {"JobID": job_id, "State": "MISSING"}).values()))
    assert set(records) == set(job_ids), f"jobs missing from sacct: {set(job_ids) - set(records)}"
    for row in records.values():
        assert row["State"] == "COMPLETED" and row["ExitCode"] == "0:0", row
        assert row["Partition"] == "debug", row
    history = subprocess.run(
        ["sacct", "-D", "-X", "-n", "-P", "-j", requeued, "-o", "State"],
        capture_output=True,
        text=True,
        timeout=QUERY_TIMEOUT_S,
        check=True,
    ).stdout.split()
    print(f"sacct -D history of requeued job {requeued}: {history}")
    assert history[0] == "REQUEUED" and history[-1] == "COMPLETED", history
    run_log = (slurm / "logs" / "demo" / "run_federation" / "organamnist" / "fhbench" / "fedavg" / "default" / "seed0.log").read_text()
    assert "resuming from" in run_log, run_log[-2000:]
    print("requeued run:", next(line for line in run_log.splitlines() if "resuming from" in line))

    # The plugin logs each job to .snakemake/slurm_logs/rule_<rule>/<wildcards>/<jobid>.log.
    log_root = slurm / ".snakemake" / "slurm_logs"
    logs = {p.stem: p.relative_to(log_root).parts[0] for p in log_root.rglob("*.log")}
    assert set(logs) == set(job_ids), f"Slurm logs {logs} do not match the submitted jobs {job_ids}"
    assert sorted(logs.values()) == sorted(cluster_rules)

    for target in targets():
        on_local, on_slurm = (workdirs["local"] / target).read_bytes(), (slurm / target).read_bytes()
        same = on_local == on_slurm
        print(f"equality check: {target}: local {len(on_local)} bytes, slurm {len(on_slurm)} bytes, byte-identical={same}")
        assert same, f"{target} differs between the local and the Slurm run"
    print(f"timing: local run {local_s:.0f}s, Slurm run {slurm_s:.0f}s")
