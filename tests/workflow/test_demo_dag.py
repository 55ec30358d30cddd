"""The real Snakemake workflow: lint, the paper grid as a dry run, and the demo DAG end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from fhbench import grid, provenance, tuning
from fhbench.config import load_config
from fhbench.grid import all_runs
from tests.conftest import REPO, copy_repo

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(args, cwd, timeout=900):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(SNAKEMAKE + args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_lint_passes():
    done = snakemake(["--lint", "--configfile", "config/demo.yaml"], REPO, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_paper_config_dry_run_lists_the_full_grid_offline(tmp_path):
    work = copy_repo(tmp_path / "repo")  # no leftover resources/ from other runs
    done = snakemake(["-n", "--cores", "8", "--quiet", "rules", "all"], work, timeout=300)
    assert done.returncode == 0, done.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", done.stdout, flags=re.M))
    expected_runs = len(all_runs(load_config(REPO / "config" / "config.yaml")))
    assert int(counts["run_federation"]) == expected_runs
    assert int(counts["acquire_data"]) == len(load_config(REPO / "config" / "config.yaml")["datasets"])
    # The tuning experiment: every trial, one selection per (dataset, partition, algorithm), one report.
    config = load_config(REPO / "config" / "config.yaml")
    assert int(counts["tune_trial"]) == len(tuning.trial_runs(config)) and int(counts["select_trial"]) == len(tuning.groups(config))
    assert int(counts["tuning_report"]) == 1


def demo_slice(work) -> str:
    """config/demo.yaml cut to one image dataset, FedAvg and EPFL, two seeds: the whole DAG
    (data, split, runs, tables, figures, REPORT.md) in CI time. `make demo` runs the full grid."""
    config = yaml.safe_load((work / "config/demo.yaml").read_text())
    config["datasets"] = {"organamnist": config["datasets"]["organamnist"]}
    config["backbones"] = {"vit_tiny": config["backbones"]["vit_tiny"]}
    config["experiments"] = {
        "main": dict(config["experiments"]["main"], datasets=["organamnist"], algorithms=["fedavg", "epfl"], seeds=[0, 1])
    }
    config["figures"] = {k: v for k, v in config["figures"].items() if v["experiment"] == "main"}
    config.pop("tuning", None)  # its tuned experiment is cut too
    config["training"]["rounds"] = 6
    (work / "config/slice.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return "config/slice.yaml"


@pytest.mark.slow
def test_demo_dag_end_to_end(tmp_path):
    work = copy_repo(tmp_path / "repo")
    configfile = demo_slice(work)
    done = snakemake(["all", "--cores", "2", "--configfile", configfile], work)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    config = load_config(work / configfile)
    tables = grid.tables_dir(config)
    assert tables == "results/demo/tables"
    table = (work / tables / "main_accuracy.md").read_text()
    assert f"wrote {tables}/main_accuracy.md" in done.stdout + done.stderr
    assert re.search(r"^\|\s*\**fedavg", table, flags=re.M) and re.search(r"^\|\s*\**epfl", table, flags=re.M)
    tidy = pd.read_csv(work / tables / "main_accuracy.csv")
    assert set(tidy.algorithm) >= {"fedavg", "epfl"}
    assert tidy["mean"].between(0, 1).all()
    report = (work / grid.report_path(config)).read_text()
    assert report.count("fedavg") >= 1
    # A demo report says so first, then where its numbers come from.
    assert report.split("\n")[2].startswith("> **DEMO — NOT THE PAPER'S RESULTS.**")
    assert report.index("## Provenance") < report.index("## What was run")
    # ... and opens with the paper's claims: a verdict for each of the six (fhbench.reporting.claims).
    assert report.split("\n")[4] == "## Claims" and "about the pipeline, not the paper" in report
    verdicts = pd.read_csv(work / tables / "claims.csv")
    assert sorted(verdicts["claim"].unique()) == [1, 2, 3, 4, 5, 6] and verdicts["verdict"].notna().all()
    assert (work / grid.figures_dir(config) / "convergence.png").stat().st_size > 0
    # Every job wrote a log file.
    for key in all_runs(config):
        log = work / key.log
        assert f"round {config['training']['rounds']}/{config['training']['rounds']}" in log.read_text()
        # The run's own cost and provenance (the warm worker hides it from the benchmark file).
        info = json.loads((work / key.info).read_text())
        assert info["status"] == "completed" and info["cpu_seconds"] > 0 and info["peak_rss_mb"] > 50
        prov = info["provenance"]
        assert {"git", "versions", "device", "host", "started", "finished", "inputs"} <= set(prov)
        assert prov["inputs"]["prepared"]["path"] == grid.prepared_dir(config, key.dataset)
        assert prov["inputs"]["split"]["hash"] == provenance.content_hash(work / grid.split_path(config, key.dataset, key.partition))
        assert prov["inputs"]["model"]["path"] == grid.run_model_dir(config, key.dataset)  # the demo backbone, pretrained
        # The demo's runs were forked by the warm worker (execution.warm_worker), which then stopped.
        assert "fhbench worker: pid" in log.read_text()
    worker_log = (work / grid.logs_dir(config) / "warm_worker.log").read_text()
    assert "ready after" in worker_log and "stopped" in worker_log, worker_log
    for rule in ("acquire_data", "prepare_data", "make_partition", "fetch_model", "make_table", "plot_figure", "write_report"):
        assert list((work / grid.logs_dir(config) / rule).rglob("*.log")), rule
    # A second invocation has nothing to do.
    again = snakemake(["all", "-n", "--cores", "2", "--configfile", configfile], work)
    assert "Nothing to be done" in again.stdout + again.stderr
