"""Tuning through the real workflow: bad tuning settings stop `snakemake -n` with one line naming
the key and plan nothing; a tiny tuned experiment runs end to end (trials without test rows,
one selected trial per group, tuned runs with the selected values, the tables, figures and
REPORT.md section); and adding a dataset to it plans only the new dataset's trials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fhbench import grid, tuning
from fhbench.config import load_config
from tests.conftest import copy_repo

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("tuning") / "repo")


def snakemake(work: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{work / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", HF_HUB_OFFLINE="1")
    return subprocess.run(SNAKEMAKE + list(args), cwd=work, env=env, capture_output=True, text=True, timeout=timeout)


def write_config(work: Path, name: str, change) -> str:
    config = yaml.safe_load((work / "config" / "demo.yaml").read_text())
    change(config)
    (work / "config" / name).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return f"config/{name}"


@pytest.mark.parametrize(
    "change, line",
    [
        (lambda c: c["tuning"].update(trials=0), "tuning.trials: a budget of 0 trials tunes nothing"),
        (lambda c: c["tuning"].update(trials={"fedavg": 4, "fedprox": 4, "epfl": 16}), "tuning.trials: unequal budgets"),
        (
            lambda c: c["tuning"].update(spaces={"epfl": {"lamda": {"scale": "linear", "low": 0.1, "high": 0.9}}}),
            "tuning.spaces.epfl.lamda: epfl has no hyperparameter",
        ),
        (
            lambda c: c["tuning"].update(spaces={"fedprox": {"mu": {"scale": "log", "low": 0.0, "high": 1.0}}}),
            "tuning.spaces.fedprox.mu: a log scale needs positive bounds",
        ),
    ],
)
def test_bad_tuning_settings_plan_nothing_and_name_the_key(work, change, line):
    config = write_config(work, "bad_tuning.yaml", change)
    done = snakemake(work, "-n", "all", "--configfile", config, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "Job stats" not in out
    errors = [text for text in out.splitlines() if line in text]
    assert len(errors) == 1 and errors[0].startswith("Error validating config: "), out[-2000:]


def tiny(config: dict, datasets=("pubmedrct",)) -> None:
    """One small dataset, two methods, two trials of two rounds, one seed: the whole tuning DAG in CI time."""
    config["datasets"] = {name: config["datasets"][name] for name in ("pubmedrct", "medabs")}  # the two text twins
    config["backbones"] = {"roberta_tiny": config["backbones"]["roberta_tiny"]}
    config["training"]["rounds"] = 4
    config["experiments"] = {
        "tuned": dict(config["experiments"]["tuned"], datasets=list(datasets), algorithms=["fedavg", "fedprox"]),
    }
    config["figures"] = {}
    config["report"] = {"headline": "tuned"}
    config["tuning"].update(trials=2, rounds=2, score={"metric": "balanced_accuracy", "eval_point": "local", "last": 1})


@pytest.mark.slow
def test_a_tiny_tuned_experiment_end_to_end_then_a_new_dataset_plans_only_its_own_trials(work):
    configfile = write_config(work, "tiny_tuning.yaml", tiny)
    config = load_config(work / configfile)
    done = snakemake(work, "all", "--cores", "2", "--configfile", configfile)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Trials scored validation only.
    for key in tuning.trial_runs(config):
        rows = pd.read_csv(work / key.metrics)
        assert (rows["split"] == "test").sum() == 0 and (rows["split"] == "val").any()
        assert rows["round"].max() == 2 and set(rows["variant"]) == {f"trial{key.trial}"}
    trials = pd.read_csv(work / grid.tables_dir(config) / "tuning_trials.csv")
    assert len(trials) == 2 * 2 and trials.groupby("algorithm")["trial"].nunique().eq(2).all()  # equal budgets
    for _, group in trials.groupby(["dataset", "partition", "algorithm"]):
        assert group["selected"].sum() == 1
        best = group.sort_values(["val_score", "trial"], ascending=[False, True]).iloc[0]
        assert bool(best["selected"])
    # The tuned runs use the selected values, for every seed; the default twins do not.
    for key in grid.experiment_runs(config, "tuned"):
        selected = json.loads((work / tuning.selection_path(config, key.dataset, key.partition, key.algorithm)).read_text())["values"]
        ran = json.loads((work / key.info).read_text())["config"]
        assert ran["lr"] == selected["lr"] and all(ran["algorithm_params"][k] == v for k, v in selected.items() if k != "lr")
        assert key.directory != tuning.default_twin(key).directory and (work / tuning.default_twin(key).metrics).exists()
    vs = pd.read_csv(work / grid.tables_dir(config) / "tuned_vs_default.csv")
    assert len(vs) == 2 and vs[["default_mean", "tuned_mean"]].notna().all().all()
    report = (work / grid.report_path(config)).read_text()
    assert "## Tuning" in report and "Ranking by average rank" in report and "0 test rows" in report
    assert "figures/tuning_sensitivity_fedprox.png" in report
    assert (work / grid.figures_dir(config) / "tuning_sensitivity_fedprox.png").stat().st_size > 0
    again = snakemake(work, "all", "-n", "--configfile", configfile)
    assert "Nothing to be done" in again.stdout + again.stderr

    # Another dataset: only its own trials (and what reads them) are planned; no earlier trial reruns.
    grown = write_config(work, "tiny_tuning.yaml", lambda c: tiny(c, datasets=("pubmedrct", "medabs")))
    planned = snakemake(work, "-n", "all", "--configfile", grown).stdout
    outputs = {
        rule: [
            line
            for block in planned.split("\nrule ")[1:]
            if block.startswith(f"{rule}:")
            for line in block.splitlines()
            if "output:" in line
        ]
        for rule in ("tune_trial", "select_trial")
    }
    assert len(outputs["tune_trial"]) == 2 * 2 and all("/tuning/runs/medabs/" in line for line in outputs["tune_trial"])
    assert len(outputs["select_trial"]) == 2 and all("/selected/medabs/" in line for line in outputs["select_trial"])
