"""Ranks, critical differences and paired intervals: how sure a comparison of methods is.

Every function starts from the tidy per-run metrics or from a tidy table
(:func:`fhbench.reporting.tables.accuracy_table`). Ties are ties: two methods whose means agree
at the table's printed precision share the average of their ranks, and a paired difference
whose interval contains zero is reported as a tie.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from fhbench.metrics import best_validation_scores

PRECISION = 4  # decimals of a score (0.01 percentage points, as printed) at which ranks tie
CONFIDENCE = 0.95


def column_ranks(table: pd.DataFrame) -> pd.Series:
    """Rank of each non-reference row within its table column (1 = best; ties share the average rank).

    Reference rows (``reference`` true) and cells without a mean get NaN.
    """
    ranked = ~table.get("reference", pd.Series(False, index=table.index)).astype(bool) & table["mean"].notna()
    ranks = pd.Series(np.nan, index=table.index)
    rounded = table.loc[ranked, "mean"].round(PRECISION)
    ranks.loc[ranked] = rounded.groupby(table.loc[ranked, "column"]).rank(ascending=False, method="average")
    return ranks


def average_ranks(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: its average rank over the table's dataset columns (average columns left out) and how many."""
    cells = table[(table["dataset"] != "average") & table["rank"].notna()]
    out = cells.groupby("method", sort=False)["rank"].agg(avg_rank="mean", n_columns="count").reset_index()
    return out.sort_values("avg_rank", kind="stable").reset_index(drop=True)


def nemenyi_cd(n_methods: int, n_columns: int, alpha: float = 1 - CONFIDENCE) -> float:
    """Nemenyi critical difference of average ranks (Demšar 2006): q_α √(k(k+1) / 6N).

    q_α is the studentized range quantile for k methods and infinite degrees of freedom over √2.
    """
    from scipy.stats import studentized_range

    if n_methods < 2 or n_columns < 1:
        return float("nan")
    q = studentized_range.ppf(1 - alpha, n_methods, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(n_methods * (n_methods + 1) / (6.0 * n_columns)))


def client_scores(metrics: pd.DataFrame, metric: str = "accuracy", eval_point: str = "local") -> pd.DataFrame:
    """Per (run, client): the protocol's test score at the client's best validation round."""
    return best_validation_scores(metrics, metric, eval_point).dropna(subset=["value"])


def bootstrap_interval(values: np.ndarray, n_boot: int = 2000, seed: int = 0, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (a fixed seed: the report repeats)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan"), float("nan")
    if len(values) == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(1)
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired_difference(
    scores: pd.DataFrame, first: tuple[str, str], second: tuple[str, str], n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Mean of ``first − second`` over the units both methods scored, with a bootstrap interval.

    ``scores`` are per-client protocol scores (:func:`client_scores`); methods are (algorithm,
    variant); units pair on (dataset, partition, seed, client), so differences between datasets,
    seeds and clients cancel. ``tie`` is true when the interval contains zero.
    """
    unit = ["dataset", "partition", "seed", "client"]
    a = scores[(scores["algorithm"] == first[0]) & (scores["variant"] == first[1])].set_index(unit)["value"]
    b = scores[(scores["algorithm"] == second[0]) & (scores["variant"] == second[1])].set_index(unit)["value"]
    diff = (a - b).dropna().to_numpy()
    lo, hi = bootstrap_interval(diff, n_boot, seed)
    mean = float(diff.mean()) if len(diff) else float("nan")
    return {"mean": mean, "lo": lo, "hi": hi, "n": int(len(diff)), "tie": bool(len(diff) == 0 or lo <= 0 <= hi)}


def bootstrap_ranks(scores: pd.DataFrame, methods: Sequence[tuple[str, str]], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Average rank of each method over dataset columns, with a bootstrap interval over seeds and clients.

    Each replicate resamples, per (dataset, partition), the (seed, client) units with
    replacement (the same units for every method, keeping the pairing), ranks the methods by
    their mean on each column and averages the ranks over columns.
    """
    keys = ["dataset", "partition", "seed", "client"]
    wanted = scores[[(a, v) in set(methods) for a, v in zip(scores["algorithm"], scores["variant"])]]
    wide = wanted.pivot_table(index=keys, columns=["algorithm", "variant"], values="value").dropna()
    wide = wide[[m for m in methods if m in wide.columns]]
    if wide.empty:
        return pd.DataFrame(columns=["algorithm", "variant", "avg_rank", "lo", "hi"])
    rng = np.random.default_rng(seed)
    columns = [frame.to_numpy() for _, frame in wide.groupby(level=["dataset", "partition"])]

    def avg_rank(samples: list[np.ndarray]) -> np.ndarray:
        means = np.stack([s.mean(0) for s in samples])  # columns × methods
        ranks = pd.DataFrame(-means.round(PRECISION)).rank(axis=1, method="average").to_numpy()
        return ranks.mean(0)

    point = avg_rank(columns)
    reps = np.stack([avg_rank([c[rng.integers(0, len(c), len(c))] for c in columns]) for _ in range(n_boot)])
    tail = (1 - CONFIDENCE) / 2
    out = pd.DataFrame(list(wide.columns), columns=["algorithm", "variant"])
    out["avg_rank"], out["lo"], out["hi"] = point, np.quantile(reps, tail, axis=0), np.quantile(reps, 1 - tail, axis=0)
    return out.sort_values("avg_rank", kind="stable").reset_index(drop=True)
