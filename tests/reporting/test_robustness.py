"""How conclusions move between selection rules, metrics and splits, on hand-built tidy tables."""

from __future__ import annotations

import pandas as pd
import pytest

from fhbench.metrics import METRIC_COLUMNS
from fhbench.reporting.report import build_report, finding_main
from fhbench.reporting.robustness import finding_splits, kendall_tau, metric_disagreement, selection_section
from fhbench.reporting.tables import accuracy_table, to_markdown
from tests.reporting.tidy import tidy_metrics

# Per method: (val accuracy, val loss, test accuracy) at rounds 2, 4, 6, the same for every client.
# A ties on validation accuracy at every round and its loss falls: the default rule scores its
# last round (90%), the published rule its first (20%). B is flat at 60%.
CURVES = {
    "a": [(0.5, 0.9, 0.2), (0.5, 0.8, 0.5), (0.5, 0.7, 0.9)],
    "b": [(0.5, 0.5, 0.6), (0.5, 0.6, 0.6), (0.5, 0.7, 0.6)],
}


def curves_metrics(curves=CURVES, datasets=("d1", "d2"), clients=2, balanced_offset=0.0) -> pd.DataFrame:
    rows = []
    for dataset in datasets:
        for algorithm, points in curves.items():
            key = (dataset, "fhbench", algorithm, "default", 0)
            for client in range(clients):
                rows.append((*key, 0, client, "data", "n_test", 3.0 if client == 0 else 1.0))
                for rnd, (val, loss, test) in zip((2, 4, 6), points):
                    rows.append((*key, rnd, client, "val", "accuracy", val))
                    rows.append((*key, rnd, client, "val", "loss", loss))
                    rows.append((*key, rnd, client, "test", "accuracy", test))
                    rows.append((*key, rnd, client, "test", "balanced_accuracy", 1 - test))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def spec(**extra):
    base = {"name": "main", "kind": "main", "title": "Main", "datasets": ["d1", "d2"], "partitions": ["fhbench"]}
    return base | {"algorithms": ["a", "b"], "variants": ["default"], "references": []} | extra


def test_selection_section_shows_a_winner_that_flips_with_the_tie_break():
    text = "\n".join(selection_section(curves_metrics(), spec(), "main"))
    assert "| a | 90.0% (1.00) | 20.0% (2.00) | 90.0% (1.00) | 53.3% (2.00) | 90.0% (1.00) |" in text
    assert "| b | 60.0% (2.00) | 60.0% (1.00) |" in text
    earliest = text.split("best val (earliest): ")[1].split(";")[0]
    assert earliest == "Kendall τ = -1.00"
    assert "best on average b (**the headline winner flips** from a)" in text
    assert "column winners change on 2 of 2: d1 (a → b), d2 (a → b)" in text


def test_the_table_caption_names_the_rule_and_the_tie_break_decides_the_cell():
    table = accuracy_table(curves_metrics(), averages=False)
    md = to_markdown(table, "t")
    assert "at each client's best validation-accuracy round (ties: lower validation loss, then the later round), mean over clients" in md
    assert table.set_index(["column", "method"]).loc[("d1", "a"), "mean"] == pytest.approx(0.9)


def test_metric_disagreement_names_the_other_winner_and_the_columns():
    text = metric_disagreement(curves_metrics(), spec(metrics=["accuracy", "balanced_accuracy"]))
    assert "Under balanced accuracy, b is best on average instead of a" in text
    assert "column winners differ (accuracy → balanced accuracy) on 2 column(s): d1 (a → b), d2 (a → b)" in text
    assert metric_disagreement(curves_metrics(), spec()) == ""  # only accuracy tabulated


def test_best_on_k_of_n_counts_what_the_table_bolds_ties_included():
    # On ds1 both methods score exactly the same: both bold, and the finding counts the tie.
    level = {("ds1", "x"): 0.5, ("ds1", "y"): 0.5, ("ds2", "x"): 0.7, ("ds2", "y"): 0.6}
    runs = [(d, "fhbench", m, "default", 0) for d in ("ds1", "ds2") for m in ("x", "y")]
    metrics = tidy_metrics(runs, lambda d, p, a, v, s: level[(d, a)])
    table = accuracy_table(metrics, averages=False)
    assert table[table["best"]]["method"].tolist() == ["x", "y", "x"]
    text = finding_main(metrics, spec(datasets=["ds1", "ds2"], algorithms=["x", "y"]), {})
    assert "it is best on 2 of 2 (1 of them tied)" in text
    assert "Wilcoxon signed-rank test of the two methods over 2 dataset columns" in text


def test_finding_splits_reports_how_the_ranking_moves():
    level = {"fedavg": 0.6, "epfl": 0.7, "local": 0.75}
    runs = [(d, p, a, "default", 0) for d in ("d1", "d2") for p in ("fhbench", "fhbench_balanced") for a in level]

    def score(d, p, a, v, s):  # the balanced split takes local's edge away
        return level[a] - (0.2 if (a == "local" and p == "fhbench_balanced") else 0.0)

    s = spec(kind="splits", partitions=["fhbench", "fhbench_balanced"], algorithms=["fedavg", "epfl", "local"])
    text = finding_splits(tidy_metrics(runs, score), s, {})
    assert "on fhbench: local > epfl > fedavg; on fhbench_balanced: epfl > fedavg > local" in text
    assert "Kendall τ between the two orders -0.33" in text
    assert "column winners change on 2 of 2 dataset(s): d1 (local → epfl), d2 (local → epfl)" in text
    assert "local -20.0" in text and "epfl +0.0" in text


def test_kendall_tau_is_scipys_on_the_common_methods():
    from scipy.stats import kendalltau

    a = pd.Series({"x": 1.0, "y": 2.0, "z": 3.0, "w": 4.0})
    b = pd.Series({"y": 1.0, "x": 2.0, "z": 3.0, "v": 9.0})
    assert kendall_tau(a, b) == pytest.approx(kendalltau([1, 2, 3], [2, 1, 3]).statistic)


def test_report_has_the_selection_section_naming_the_rule():
    metrics = curves_metrics()
    runs = sorted({tuple(r) for r in metrics[["dataset", "partition", "algorithm", "variant", "seed"]].itertuples(index=False)})
    text = build_report(metrics, {"main": spec(runs=runs)}, {}, {}, [])
    assert "## Selection" in text and "ties: lower validation loss, then the later round" in text
    assert "### `main`: Main" in text and "**the headline winner flips**" in text
