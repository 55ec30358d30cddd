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
    """Tidy table: one row per (dataset, partition, algorithm, variant) with mean and std over seeds.

    Diverged runs are left out of the mean and counted in ``n_diverged``; a cell whose every
    seed diverged keeps its row with a NaN mean, so the table says so instead of dropping it.
    """
    cell = ["dataset", "partition", "algorithm", "variant"]
    per_run = run_summary(metrics, metric)
    finished = per_run[~per_run["diverged"]]
    table = per_run[cell].drop_duplicates().reset_index(drop=True)
    scores = finished.groupby(cell)["mean"].agg(mean="mean", std="std", n_seeds="count").reset_index()
    table = table.merge(scores, on=cell, how="left")
    table = table.merge(per_run.groupby(cell)["diverged"].sum().rename("n_diverged").reset_index(), on=cell, how="left")
    table["n_seeds"] = table["n_seeds"].fillna(0).astype(int)
    table["n_diverged"] = table["n_diverged"].astype(int)
    table["std"] = table["std"].fillna(0.0)
    table["metric"] = metric
    return table


def format_cell(mean: float, std: float, n_diverged: int) -> str:
    """``mean ± std`` in percent; ``diverged`` when no seed finished; a dagger counts diverged seeds."""
    if pd.isna(mean):
        return "diverged"
    text = f"{100 * mean:.2f} ± {100 * std:.2f}"
    return f"{text} †{n_diverged}" if n_diverged else text


def to_markdown(table: pd.DataFrame, title: str) -> str:
    """Algorithms as rows, datasets as columns, ``mean ± std`` in percent; the best per column in bold."""
    n_diverged = table["n_diverged"] if "n_diverged" in table else pd.Series(0, index=table.index)
    cells = table.assign(cell=[format_cell(m, s, int(d)) for m, s, d in zip(table["mean"], table["std"], n_diverged)])
    finite = table.dropna(subset=["mean"])
    best = finite.loc[finite.groupby("dataset")["mean"].idxmax(), ["dataset", "algorithm", "variant"]]
    best_keys = set(map(tuple, best.to_numpy()))
    cells["cell"] = [
        f"**{c}**" if (d, a, v) in best_keys else c for c, d, a, v in zip(cells["cell"], cells["dataset"], cells["algorithm"], cells["variant"])
    ]
    cells["method"] = [a if v == "default" else f"{a} ({v})" for a, v in zip(cells["algorithm"], cells["variant"])]
    wide = cells.pivot_table(index="method", columns="dataset", values="cell", aggfunc="first")
    seeds = int((table["n_seeds"] + n_diverged).max())
    header = f"# {title}\n\nTest {table['metric'].iloc[0]} (%) at each client's best validation round, mean over clients; mean ± std over {seeds} seed(s).\n\n"
    footer = "\n† k: k seed(s) diverged (non-finite loss) and are left out of the mean; `diverged`: every seed did.\n" if n_diverged.any() else ""
    return header + wide.to_markdown() + "\n" + footer


def write_accuracy_table(metrics_paths: Iterable[str | Path], csv_out: str | Path, md_out: str | Path, title: str = "Main results") -> pd.DataFrame:
    table = accuracy_table(load_metrics(metrics_paths))
    with atomic_path(csv_out) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(md_out) as tmp:
        tmp.write_text(to_markdown(table, title))
    return table
