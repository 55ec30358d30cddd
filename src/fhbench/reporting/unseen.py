"""The participation gap: what a method gives the hospitals it trained with, and one that joins later.

pFL-Bench holds 20% of the clients out of training and reports how much worse they fare. Here a
partition's ``unseen`` clients are scored at the end of each run as newcomers
(:mod:`fhbench.newcomers`, evaluation point ``newcomer``). ``unseen_accuracy.csv`` has one row per
(dataset, algorithm): ``participating`` is the run's protocol figure over its training clients
(test accuracy at each client's best validation round, at the experiment's evaluation point),
``unseen`` the newcomers' mean test accuracy, ``gap`` = participating − unseen; each a mean over
seeds. :func:`fhbench.reporting.figures.plot_unseen` draws the two side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from fhbench.io import write_texts
from fhbench.metrics import EVAL_POINT, RUN_KEYS
from fhbench.newcomers import NEWCOMER

UNSEEN_COLUMNS = ["dataset", "algorithm", "participating", "unseen", "gap", "partition", "variant", "n_seeds", "n_unseen", "eval_point"]


def newcomer_scores(metrics: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Per run: the mean test ``metric`` over its unseen clients and how many were scored."""
    if EVAL_POINT not in metrics.columns:
        return pd.DataFrame(columns=RUN_KEYS + ["unseen", "n_unseen"])
    rows = metrics[(metrics[EVAL_POINT] == NEWCOMER) & (metrics["split"] == "test") & (metrics["metric"] == metric)]
    return rows.groupby(RUN_KEYS)["value"].agg(unseen="mean", n_unseen="count").reset_index()


def unseen_table(metrics: pd.DataFrame, eval_point: str = "local", metric: str = "accuracy") -> pd.DataFrame:
    """One row per (dataset, partition, algorithm, variant) of the runs that hold clients out."""
    unseen = newcomer_scores(metrics, metric)
    if unseen.empty:
        return pd.DataFrame(columns=UNSEEN_COLUMNS)
    from fhbench.reporting.selection import run_scores

    summary = run_scores(metrics, metric, eval_point)
    summary = summary[~summary["diverged"]].rename(columns={"score": "participating"})
    runs = summary[RUN_KEYS + ["participating"]].merge(unseen, on=RUN_KEYS, how="inner")
    cells = ["dataset", "partition", "algorithm", "variant"]
    table = runs.groupby(cells, sort=True).agg(
        participating=("participating", "mean"), unseen=("unseen", "mean"), n_seeds=("seed", "nunique"), n_unseen=("n_unseen", "max")
    )
    table = table.reset_index()
    table["gap"] = table["participating"] - table["unseen"]
    table["eval_point"] = eval_point
    return table[UNSEEN_COLUMNS]


def to_markdown(table: pd.DataFrame) -> str:
    lines = [
        "# Participating vs unseen clients",
        "",
        "Test accuracy (%): `participating` = each training client at the round the selection rule picks (docs/protocol.md §4), mean over clients; "
        "`unseen` = clients held out of training, served at the end what the method gives a hospital that joins "
        "(docs/algorithms.md, 'Unseen clients'), mean over them; gap = participating − unseen; means over seeds.",
        "",
        "| dataset | partition | method | participating | unseen | gap | seeds | unseen clients |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in table.itertuples():
        method = row.algorithm if row.variant == "default" else f"{row.algorithm} ({row.variant})"
        lines.append(
            f"| {row.dataset} | {row.partition} | {method} | {100 * row.participating:.2f} | {100 * row.unseen:.2f} | "
            f"{100 * row.gap:+.2f} | {row.n_seeds} | {row.n_unseen} |"
        )
    if table.empty:
        lines.append("| – | – | no run held clients out | – | – | – | 0 | 0 |")
    return "\n".join(lines) + "\n"


def write_unseen_table(metrics_paths: Iterable[str | Path], specs: list[dict], csv_out: str | Path, md_out: str | Path) -> pd.DataFrame:
    """The table over every experiment in ``specs`` (fhbench.grid.experiment_spec), each at its evaluation point."""
    from fhbench.reporting.tables import load_metrics

    metrics = load_metrics(metrics_paths).astype({"seed": "int64"})
    parts = []
    for spec in specs:
        runs = pd.DataFrame([tuple(r) for r in spec["runs"]], columns=RUN_KEYS).astype({"seed": "int64"})
        parts.append(unseen_table(metrics.merge(runs, on=RUN_KEYS, how="inner"), spec.get("eval_point", "local")))
    table = pd.concat([p for p in parts if not p.empty] or [pd.DataFrame(columns=UNSEEN_COLUMNS)], ignore_index=True)
    table = table.drop_duplicates(subset=["dataset", "partition", "algorithm", "variant", "eval_point"]).reset_index(drop=True)
    write_texts({csv_out: table.to_csv(index=False), md_out: to_markdown(table)})
    return table
