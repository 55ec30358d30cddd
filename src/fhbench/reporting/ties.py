"""Why two methods tie in a table although they train differently.

A table prints each cell as a mean of per-client test accuracies at two decimals. A client's test
accuracy is a fraction k/n of its test part, which holds few samples on the fhbench splits (7–16
on the demo twins): one prediction more or less moves it by 6–14 points, and a smaller change of
the model moves it not at all. Two methods whose models differ (their training and test losses
differ) can then score the same accuracy on most clients, and the few clients that differ can
cancel in the mean. :func:`tie_breakdown` measures that for each cell pair that prints equal:
how many clients score the same at their selected round, how many (client, round) test
accuracies are equal, the test parts' sizes, and how much the test loss differs on the same rows
(a difference there shows the models are not the same). :func:`ties_section` writes it for
REPORT.md beside the headline table.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from fhbench.metrics import at_eval_point
from fhbench.reporting.selection import client_scores
from fhbench.reporting.tables import seed_scores

#: Relative test-loss differences above this count as "the models differ" (float32 noise is ~1e-7).
LOSS_TOLERANCE = 1e-6
TIE_COLUMNS = [
    "dataset",
    "partition",
    "first",
    "second",
    "score",
    "n_clients",
    "same_clients",
    "gain",
    "loss",
    "same_rows",
    "loss_rows_differing",
    "loss_rel_median",
    "n_test_min",
    "n_test_median",
]


def _in_cell(series: pd.Series, dataset: str, partition: str) -> pd.Series:
    """The rows of one (dataset, partition), indexed by (seed, round, client); empty when it has none
    (metrics written without test-loss rows, for example)."""
    mask = (series.index.get_level_values("dataset") == dataset) & (series.index.get_level_values("partition") == partition)
    return series[mask].droplevel(["dataset", "partition"])


def _test_rows(metrics: pd.DataFrame, algorithm: str, metric: str, eval_point: str) -> pd.Series:
    rows = at_eval_point(metrics, eval_point)
    rows = rows[(rows["algorithm"] == algorithm) & (rows["split"] == "test") & (rows["metric"] == metric)]
    return rows.set_index(["dataset", "partition", "seed", "round", "client"])["value"].sort_index()


def tie_breakdown(
    metrics: pd.DataFrame, algorithms, metric: str = "accuracy", eval_point: str = "local", decimals: int = 2
) -> pd.DataFrame:
    """One row per (dataset, partition) and pair of ``algorithms`` (variant ``default``) whose
    seed-mean scores are equal once printed in percent with ``decimals`` decimals: how many of the
    pair's clients score the same at their selected rounds (``same_clients`` of ``n_clients``;
    ``gain``/``loss``: the sum of the other clients' differences, first minus second, in
    fractions), the share of (seed, round, client) test ``metric`` values that are equal
    (``same_rows``), the share of test-loss values that differ and their median relative
    difference, and the test parts' smallest and median size."""
    metrics = metrics[metrics["variant"] == "default"]
    present = [a for a in algorithms if (metrics["algorithm"] == a).any()]
    scores = seed_scores(metrics, metric, eval_point).groupby(["dataset", "partition", "algorithm"])["score"].mean()
    clients = client_scores(metrics, metric, eval_point).set_index(["dataset", "partition", "seed", "client", "algorithm"])["value"]
    sizes = metrics[(metrics["split"] == "data") & (metrics["metric"] == "n_test")]
    rows = []
    for first, second in combinations(present, 2):
        accuracy = {a: _test_rows(metrics, a, metric, eval_point) for a in (first, second)}
        test_loss = {a: _test_rows(metrics, a, "loss", eval_point) for a in (first, second)}
        for (dataset, partition), cell in scores.groupby(level=["dataset", "partition"]):
            cell = cell.droplevel(["dataset", "partition"])
            if first not in cell or second not in cell:
                continue
            if round(100 * cell[first], decimals) != round(100 * cell[second], decimals):
                continue
            pick = clients.xs((dataset, partition), level=["dataset", "partition"]).unstack("algorithm")[[first, second]].dropna()
            diff = pick[first] - pick[second]
            same = pd.concat({a: _in_cell(s, dataset, partition) for a, s in accuracy.items()}, axis=1, join="inner")
            losses = pd.concat({a: _in_cell(s, dataset, partition) for a, s in test_loss.items()}, axis=1, join="inner")
            rel = (losses[first] - losses[second]).abs() / losses.abs().max(axis=1).clip(lower=1e-12)
            n_test = sizes[(sizes["dataset"] == dataset) & (sizes["partition"] == partition) & (sizes["algorithm"] == first)]
            n_test = n_test.groupby("client")["value"].first()
            rows.append(
                {
                    "dataset": dataset,
                    "partition": partition,
                    "first": first,
                    "second": second,
                    "score": float(cell[first]),
                    "n_clients": len(pick),
                    "same_clients": int((diff.abs() < 1e-12).sum()),
                    "gain": float(diff[diff > 0].sum()),
                    "loss": float(diff[diff < 0].sum()),
                    "same_rows": float((same[first] == same[second]).mean()) if len(same) else np.nan,
                    "loss_rows_differing": float((rel > LOSS_TOLERANCE).mean()) if len(rel) else np.nan,
                    "loss_rel_median": float(rel.median()) if len(rel) else np.nan,
                    "n_test_min": float(n_test.min()) if len(n_test) else np.nan,
                    "n_test_median": float(n_test.median()) if len(n_test) else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=TIE_COLUMNS)


def _share(x: float) -> str:
    return f"{100 * x:.0f}%" if np.isfinite(x) else "an unknown share"


def _size(row: pd.Series) -> str:
    if not np.isfinite(row["n_test_min"]):
        return "test parts of unrecorded size"
    return f"test parts of {row['n_test_min']:.0f}–{row['n_test_median']:.0f} samples (smallest–median)"


def ties_section(metrics: pd.DataFrame, spec: dict) -> list[str]:
    """REPORT.md's explanation of every headline cell where two methods (algorithms and reference
    rows) print the same score; empty when none do."""
    algorithms = list(spec.get("algorithms", [])) + list(spec.get("references", []))
    eval_point = spec.get("eval_point", "local")
    ties = tie_breakdown(metrics, algorithms, eval_point=eval_point)
    if ties.empty:
        return []
    lines = [
        "## Equal cells in the headline table",
        "",
        "Cells of two methods that print the same test accuracy. A client's accuracy is a fraction of its few test "
        "samples, so models that differ a little predict the same labels there; the test loss, which moves with every "
        "change of the model, shows whether the two models differ.",
        "",
    ]
    for _, row in ties.iterrows():
        differ = (
            "the test loss is not recorded, so whether the models differ is not shown"
            if not np.isfinite(row["loss_rows_differing"])
            else f"the models differ: the test loss differs in {100 * row['loss_rows_differing']:.0f}% of the rows "
            f"(median relative difference {row['loss_rel_median']:.1e})"
            if row["loss_rows_differing"] > 0
            else "**the models do not differ: every test loss is equal (a mechanism did not act)**"
        )
        cancel = (
            f"; the other clients' differences cancel in the mean ({100 * row['gain']:+.1f} and {100 * row['loss']:+.1f} points summed)"
            if row["same_clients"] < row["n_clients"]
            else ""
        )
        lines.append(
            f"- {row['dataset']}/{row['partition']}: {row['first']} = {row['second']} ({100 * row['score']:.2f}): "
            f"{row['same_clients']} of {row['n_clients']} clients score the same at their selected round and "
            f"{_share(row['same_rows'])} of all (client, round) test accuracies are equal, with {_size(row)}; "
            f"{differ}{cancel}."
        )
    lines.append("")
    return lines
