"""What tuning changed, on hand-made runs with known scores: tuned against default test accuracy,
the ranking change (rank correlation, places moved), the compute table and the figure."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from fhbench import grid, tuning
from fhbench.reporting import tuning as report
from tests.reporting.tidy import tidy_metrics

DATASETS = ["d1", "d2"]
METHODS = ["a", "b", "c"]
# Default: a > b > c on both datasets. Tuned: c gains most, b loses its place to it.
SCORES = {
    ("default", "a"): 0.80,
    ("default", "b"): 0.70,
    ("default", "c"): 0.60,
    (grid.TUNED, "a"): 0.82,
    (grid.TUNED, "b"): 0.71,
    (grid.TUNED, "c"): 0.75,
}


def spec() -> dict:
    return {
        "settings": {
            "trials": 2,
            "rounds": 3,
            "seeds": [0],
            "score": {"metric": "balanced_accuracy", "eval_point": "local", "last": 2},
            "sampler": {"method": "sobol", "seed": 0, "include_default": True},
        },
        "experiments": {
            "t": {
                "title": "T",
                "datasets": DATASETS,
                "partitions": ["p"],
                "algorithms": METHODS,
                "references": [],
                "eval_point": "local",
                "seeds": [0, 1],
                "groups": [[d, "p", a] for d in DATASETS for a in METHODS],
            }
        },
        "spaces": {
            a: {"lr": {"scale": "log", "range": "log [0.1, 10] × configured", "reason": "r", "relative": True, "bounds": [0.1, 10]}}
            for a in METHODS
        },
        "configured": {a: {d: {"lr": 0.05} for d in DATASETS} for a in METHODS},
    }


@pytest.fixture
def metrics() -> pd.DataFrame:
    runs = [(d, "p", a, v, s) for d in DATASETS for a in METHODS for v in ("default", grid.TUNED) for s in (0, 1)]
    return tidy_metrics(runs, lambda d, p, a, v, s: SCORES[(v, a)] + 0.01 * s, spread=0.0)


def selections() -> dict:
    records = {}
    for d in DATASETS:
        for a in METHODS:
            runs = [
                (
                    k,
                    0,
                    pd.DataFrame(
                        {
                            "round": [1, 2],
                            "client": 0,
                            "split": "val",
                            "metric": "balanced_accuracy",
                            "value": 0.1 * (k + 1),
                            "eval_point": "local",
                        }
                    ),
                    "completed",
                )
                for k in range(2)
            ]
            records[(d, "p", a)] = tuning.group_selection([{"lr": 0.05}, {"lr": 0.1}], runs, spec()["settings"]["score"], (d, "p", a))
    return records


def test_tuned_vs_default_gives_both_means_over_seeds_and_the_selected_values(metrics):
    table = report.tuned_vs_default(metrics, spec(), selections())
    assert len(table) == len(DATASETS) * len(METHODS)
    row = table[(table.dataset == "d1") & (table.algorithm == "c")].iloc[0]
    assert row["default_mean"] == pytest.approx(0.605) and row["tuned_mean"] == pytest.approx(0.755)
    assert row["default_seeds"] == row["tuned_seeds"] == 2 and row["default_std"] == pytest.approx(0.00707, abs=1e-4)
    assert row["difference"] == pytest.approx(0.15) and row["selected"] == "lr=0.1" and row["selected_trial"] == 1
    assert "| t | d1/p | c | 60.5 ± 0.7 | 75.5 ± 0.7 | +15.0 | lr=0.1 |" in report.tuned_vs_default_markdown(table)


def test_missing_and_diverged_seeds_are_counted_not_dropped(metrics):
    diverged = pd.DataFrame([("d1", "p", "a", grid.TUNED, 1, 2, -1, "run", "diverged", 1.0)], columns=metrics.columns)
    fewer = metrics[~((metrics.dataset == "d1") & (metrics.algorithm == "b") & (metrics.variant == "default") & (metrics.seed == 1))]
    table = report.tuned_vs_default(pd.concat([fewer, diverged], ignore_index=True), spec(), selections())
    a = table[(table.dataset == "d1") & (table.algorithm == "a")].iloc[0]
    b = table[(table.dataset == "d1") & (table.algorithm == "b")].iloc[0]
    assert a["tuned_diverged"] == 1 and a["tuned_seeds"] == 1
    assert b["default_missing"] == 1 and b["default_seeds"] == 1
    text = report.tuned_vs_default_markdown(table)
    assert "(1 diverged)" in text and "(1 missing)" in text


def test_ranking_change_reports_rank_correlation_and_places_moved(metrics):
    change = report.ranking_change(report.tuned_vs_default(metrics, spec(), selections()))
    moves = change["moves"].set_index("method")
    assert change["changed"] and moves["places_gained"].to_dict() == {"a": 0, "b": -1, "c": 1}
    assert change["spearman"] == pytest.approx(0.5)  # orders (1, 2, 3) and (1, 3, 2)
    assert report.ordering(change["moves"], "tuned") == "a > c > b"


def test_an_unchanged_ranking_says_so(metrics):
    same = metrics[metrics.variant == "default"]
    both = pd.concat([same, same.assign(variant=grid.TUNED)], ignore_index=True)
    change = report.ranking_change(report.tuned_vs_default(both, spec(), selections()))
    assert not change["changed"] and change["spearman"] == pytest.approx(1.0)


def test_compute_table_sums_the_runs_own_records():
    def info(d, a, variant, seed, cpu, rounds, gpu=False):
        out = {
            "cpu_seconds": cpu,
            "wall_seconds": 2 * cpu,
            "config": {"dataset": d, "partition": "p", "algorithm": a, "variant": variant, "seed": seed, "rounds": rounds},
        }
        return out | ({"gpu_peak_mb": 10.0} if gpu else {})

    trials = [info(d, a, f"trial{k}", 0, 1.0, 3, gpu=(k == 0)) for d in DATASETS for a in METHODS for k in range(2)]
    finals = [info(d, a, v, s, 5.0, 10) for d in DATASETS for a in METHODS for v in ("default", grid.TUNED) for s in (0, 1)]
    table = report.compute_table(trials, finals, spec()).set_index("algorithm")
    assert table.loc["a", "tuning_runs"] == 4 and table.loc["a", "tuning_cpu_s"] == pytest.approx(4.0)
    assert table.loc["a", "tuning_gpu_s"] == pytest.approx(2 * 2 * 1.0)  # the two GPU trials' wall seconds
    assert table.loc["a", "tuned_runs"] == 4 and table.loc["a", "tuned_cpu_s"] == pytest.approx(20.0)
    assert table.loc["a", "tuning_cpu_s_per_round"] == pytest.approx(1 / 3, abs=1e-3) and table.loc[
        "a", "tuned_cpu_s_per_round"
    ] == pytest.approx(0.5)
    assert table.loc["all", "tuning_runs"] == 12 and table.loc["all", "tuning_over_tuned_cpu"] == pytest.approx(12 / 60, abs=0.01)


def test_the_writer_makes_every_table_the_figures_and_the_section(tmp_path, metrics):
    paths = {"selections": [], "metrics": tmp_path / "metrics.csv"}
    metrics.to_csv(paths["metrics"], index=False)
    for (d, p, a), record in selections().items():
        out = tmp_path / "selected" / d / p / f"{a}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record))
        paths["selections"].append(out)
    info = tmp_path / "run.json"
    info.write_text(
        json.dumps(
            {
                "cpu_seconds": 1.0,
                "wall_seconds": 1.0,
                "config": {"dataset": "d1", "partition": "p", "algorithm": "a", "variant": "trial0", "seed": 0, "rounds": 3},
            }
        )
    )
    outputs = {k: str(tmp_path / "results" / "tables" / f"{k}.x") for k in ("trials", "vs_csv", "vs_md", "compute_csv", "compute_md")}
    outputs["section"] = str(tmp_path / "results" / "tuning" / "report.md")
    figures = {a: [str(tmp_path / "results" / "figures" / f"tuning_sensitivity_{a}.{e}") for e in ("png", "pdf")] for a in METHODS}
    report.write_tuning_report(spec(), paths["selections"], [info], [paths["metrics"]], [info], outputs, figures)
    trials = pd.read_csv(outputs["trials"])
    assert len(trials) == 2 * len(DATASETS) * len(METHODS) and trials.groupby(["dataset", "algorithm"])["selected"].sum().eq(1).all()
    assert all(trials.loc[trials.selected, "trial"] == 1)  # the higher validation score
    section = open(outputs["section"]).read()
    assert "**The ranking changes after tuning**" in section and "Spearman's ρ between the two average-rank orderings = 0.50" in section
    assert "0 test rows" in section and "![tuning sensitivity: c](figures/tuning_sensitivity_c.png)" in section
    assert all(
        (tmp_path / "results" / "figures" / f"tuning_sensitivity_{a}.{e}").stat().st_size > 0 for a in METHODS for e in ("png", "pdf")
    )


def test_sensitivity_draws_one_panel_per_hyperparameter_and_marks_unscored_trials():
    trials = pd.DataFrame(
        {
            "experiment": "t",
            "dataset": ["d1"] * 3,
            "partition": "p",
            "algorithm": "x",
            "trial": [0, 1, 2],
            "hp.lr": [0.05, 0.1, 0.5],
            "hp.layers": ["all", "first_half", "all"],
            "val_score": [0.3, 0.4, math.nan],
            "selected": [False, True, False],
        }
    )
    space = {"lr": {"scale": "log", "range": "r", "relative": True, "bounds": [0.1, 10]}, "layers": {"scale": "choice", "range": "r"}}
    fig = report.plot_sensitivity(trials, "x", space, {"d1": {"lr": 0.05}})
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    assert "1 trial(s) without a score" in fig._suptitle.get_text()
