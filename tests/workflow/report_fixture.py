"""A repository copy whose runs are replaced by tiny hand-made metrics, to build tables,
figures, REPORT.md and the Snakemake report without training anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from fhbench import grid
from fhbench.asymmetry import asymmetry_frame
from fhbench.config import validate_config
from fhbench.diagnostics import DIAGNOSTICS_COLUMNS
from fhbench.metrics import EVAL_POINTS, FILE_COLUMNS
from fhbench.mixing import mixing_frame
from fhbench.participation import PARTICIPATION_COLUMNS
from fhbench.reporting.priors import PRIORS
from tests.conftest import copy_repo
from tests.reporting.tidy import tidy_metrics

# Only the reporting rules may run: the hand-made metrics stand in for run_federation's outputs.
REPORT_RULES = ["make_table", "label_priors", "plot_figure", "judge_claims", "asymmetry_report", "write_report", "efficiency_table", "all"]


def score(dataset, partition, algorithm, variant, seed):
    alpha = {"dir0.1": 0.1, "dir1": 1.0, "dir10": 10.0}.get(partition, 0.1)
    base = 0.55 + (0.2 / (1 + alpha) if algorithm == "epfl" else 0.0)
    return base + 0.01 * (len(variant) % 5) + 0.02 * seed


def bytes_per_client(algorithm, variant):
    return {"rank4": 2000, "rank16": 8000}.get(variant, 4000) * (2 if algorithm == "fedavg" else 1)


def prepare(dest: Path, configfile: str = "config/demo.yaml") -> tuple[Path, dict]:
    repo = copy_repo(dest)
    config = validate_config(yaml.safe_load((repo / configfile).read_text()))
    write_runs(repo, config)
    return repo, config


def write_runs(repo: Path, config: dict) -> None:
    """Hand-made outputs of every run of ``config`` (and its splits' priors), as the workflow writes them."""
    for key in grid.all_runs(config):
        out = repo / key.directory
        out.mkdir(parents=True, exist_ok=True)
        tidy_metrics(
            [(key.dataset, key.partition, key.algorithm, key.variant, key.seed)],
            score,
            rounds=6,
            clients=4,
            bytes_per_client=bytes_per_client,
        ).to_csv(out / "metrics.csv", index=False)
        (out / "run.json").write_text(json.dumps({"status": "completed"}))
        mixing_frame([]).to_csv(out / "mixing.csv", index=False)  # no server matrices (as a non-EPFL run writes)
        asymmetry_frame([]).to_csv(out / "asymmetry.csv", index=False)  # no updates recorded (as the centralized reference)
        pd.DataFrame(columns=DIAGNOSTICS_COLUMNS).to_csv(out / "diagnostics.csv", index=False)
        pd.DataFrame(columns=PARTICIPATION_COLUMNS).to_csv(out / "participation.csv", index=False)
    # Split priors as make_partition writes them beside each split: a constant 0.5 prior (one
    # evaluation point, as the hand-made metrics have no point column).
    for dataset, partition in grid.used_data_partitions(config):
        path = repo / grid.split_priors_path(config, dataset, partition)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [
            ("", "", prior, "default", 0, 0, 0, part, "accuracy", 0.5, point)
            for prior in PRIORS
            for part in ("val", "test")
            for point in EVAL_POINTS[:1]
        ]
        pd.DataFrame(rows, columns=FILE_COLUMNS).to_csv(path, index=False)


def snakemake(repo: Path, *args: str, configfile: str = "config/demo.yaml", timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{repo / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "snakemake", *args, "--cores", "2", "--allowed-rules", *REPORT_RULES, "--configfile", configfile]
    result = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result
