"""Result tables: mean ± std over seeds of the protocol figure, per algorithm and dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from fhbench.io import atomic_path
from fhbench.metrics import run_summary


def load_metrics(paths: Iterable[str | Path]) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in paths]
    if not frames:
        raise ValueError("no metrics files given")
    return pd.concat(frames, ignore_index=True)


def accuracy_table(metrics: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Tidy table: one row per (dataset, partition, algorithm, variant) with mean and std over seeds."""
    per_run = run_summary(metrics, metric)
    grouped = per_run.groupby(["dataset", "partition", "algorithm", "variant"])["mean"]
    table = grouped.agg(mean="mean", std="std", n_seeds="count").reset_index()
    table["std"] = table["std"].fillna(0.0)
    table["metric"] = metric
    return table


def to_markdown(table: pd.DataFrame, title: str) -> str:
    """Algorithms as rows, datasets as columns, ``mean ± std`` in percent; the best per column in bold."""
    cells = table.assign(cell=[f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in zip(table["mean"], table["std"])])
    best = table.loc[table.groupby("dataset")["mean"].idxmax(), ["dataset", "algorithm", "variant"]]
    best_keys = set(map(tuple, best.to_numpy()))
    cells["cell"] = [
        f"**{c}**" if (d, a, v) in best_keys else c for c, d, a, v in zip(cells["cell"], cells["dataset"], cells["algorithm"], cells["variant"])
    ]
    cells["method"] = [a if v == "default" else f"{a} ({v})" for a, v in zip(cells["algorithm"], cells["variant"])]
    wide = cells.pivot_table(index="method", columns="dataset", values="cell", aggfunc="first")
    seeds = int(table["n_seeds"].max())
    header = f"# {title}\n\nTest {table['metric'].iloc[0]} (%) at each client's best validation round, mean over clients; mean ± std over {seeds} seed(s).\n\n"
    return header + wide.to_markdown() + "\n"


def write_accuracy_table(metrics_paths: Iterable[str | Path], csv_out: str | Path, md_out: str | Path, title: str = "Main results") -> pd.DataFrame:
    table = accuracy_table(load_metrics(metrics_paths))
    with atomic_path(csv_out) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(md_out) as tmp:
        tmp.write_text(to_markdown(table, title))
    return table
