"""How sure a comparison of methods is: ranks, the tests that decide between them, paired intervals.

Every function starts from a tidy table (:func:`fhbench.reporting.tables.accuracy_table`) or from
per-client scores (:func:`fhbench.reporting.selection.client_scores`). Each test is used in its
conditions, and the tests themselves are scipy's:

- over the dataset columns of a table, **Friedman** first (``scipy.stats.friedmanchisquare``,
  three or more methods); the **Nemenyi** critical difference only after a significant Friedman
  test; with two methods the **Wilcoxon signed-rank** test (``scipy.stats.wilcoxon``);
- paired differences and rank intervals by the bootstrap (``scipy.stats.bootstrap``, percentile
  intervals) with **clients as the unit, resampled within each dataset column** (a client's
  scores are first averaged over seeds: seeds share the client's data) and weighted as the
  table combines clients (:mod:`fhbench.reporting.selection`: equal weights for the per-client
  mean, test-part sizes for the sample-weighted mean);
- a difference is a **tie** only when its whole interval lies inside ±:data:`EQUIVALENCE_MARGIN`;
  an interval that crosses zero but leaves the margin is **inconclusive**.

Ties in ranks are ties: methods whose means agree at the printed precision share the average
of their ranks.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from fhbench.reporting.selection import DEFAULT, SelectionRule

PRECISION = 4  # decimals of a score (0.01 percentage points, as printed) at which ranks tie
CONFIDENCE = 0.95
SIGNIFICANCE = 1 - CONFIDENCE
#: Differences within ±1 percentage point count as equivalent ("tie"): below the 0.1-point
#: precision findings print but above it, and well below the seed-to-seed spread of a cell.
EQUIVALENCE_MARGIN = 0.01
UNIT = ["dataset", "partition", "client"]


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


def column_winners(table: pd.DataFrame) -> pd.DataFrame:
    """The (column, method) pairs in bold: rank 1 or tied for it, on the dataset columns only.

    "Best on k of n" in the findings counts these rows, so text and bold always agree.
    """
    cells = table[(table["dataset"] != "average") & table["best"].astype(bool)]
    return cells[["column", "method"]].reset_index(drop=True)


def nemenyi_cd(n_methods: int, n_columns: int, alpha: float = SIGNIFICANCE) -> float:
    """Nemenyi critical difference of average ranks (Demšar 2006): q_α √(k(k+1) / 6N).

    q_α is the studentized range quantile (``scipy.stats.studentized_range``) for k methods and
    infinite degrees of freedom over √2.
    """
    from scipy.stats import studentized_range

    if n_methods < 2 or n_columns < 1:
        return float("nan")
    q = studentized_range.ppf(1 - alpha, n_methods, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(n_methods * (n_methods + 1) / (6.0 * n_columns)))


def score_matrix(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Dataset columns × ranked methods of the table's means, and the methods left out because
    they lack a mean on some column (a diverged cell): a rank test needs complete blocks."""
    cells = table[(table["dataset"] != "average") & table["rank"].notna()]
    wide = cells.pivot_table(index="column", columns="method", values="mean", sort=False)
    order = list(dict.fromkeys(cells["method"]))
    wide = wide[[m for m in order if m in wide.columns]]
    incomplete = [m for m in wide.columns if wide[m].isna().any()]
    return wide.drop(columns=incomplete), incomplete


@dataclass
class RankTest:
    """The test over dataset columns that decides whether methods differ, and what it allows."""

    test: str  # "friedman", "wilcoxon" or "none"
    n_methods: int
    n_columns: int
    statistic: float = float("nan")
    pvalue: float = float("nan")
    cd: float = float("nan")  # the Nemenyi CD: only after a significant Friedman test
    left_out: list[str] = field(default_factory=list)
    reason: str = ""  # why no test ran, or why its p-value is undefined

    @property
    def significant(self) -> bool:
        return bool(np.isfinite(self.pvalue) and self.pvalue < SIGNIFICANCE)

    def text(self) -> str:
        """One sentence for REPORT.md, a table note or a figure subtitle."""
        dropped = f" ({', '.join(self.left_out)} left out: no score on every column)" if self.left_out else ""
        if self.test == "none":
            return f"No rank test: {self.reason}{dropped}."
        if not np.isfinite(self.pvalue):
            return f"{self.test.title()} test over {self.n_columns} dataset columns: undefined ({self.reason}){dropped}."
        if self.test == "friedman":
            head = (
                f"Friedman test over {self.n_columns} dataset columns and {self.n_methods} methods: "
                f"χ²({self.n_methods - 1}) = {self.statistic:.2f}, p = {self.pvalue:.3g}"
            )
            if self.significant:
                return f"{head}, significant at {SIGNIFICANCE:g}; Nemenyi critical difference {self.cd:.2f} ranks{dropped}."
            return f"{head}, not significant at {SIGNIFICANCE:g}: the methods' ranks are not told apart (no Nemenyi test){dropped}."
        verdict = "significant" if self.significant else "not significant"
        return (
            f"Wilcoxon signed-rank test of the two methods over {self.n_columns} dataset columns: "
            f"W = {self.statistic:g}, p = {self.pvalue:.3g}, {verdict} at {SIGNIFICANCE:g}{dropped}."
        )


def rank_test(table: pd.DataFrame) -> RankTest:
    """Friedman (≥ 3 methods, then Nemenyi if significant) or Wilcoxon (2 methods) over the
    table's dataset columns, on the cells' means; scipy computes every statistic and p-value."""
    from scipy.stats import friedmanchisquare, wilcoxon

    wide, left_out = score_matrix(table)
    k, n = wide.shape[1], wide.shape[0]
    out = RankTest("none", k, n, left_out=left_out)
    if k < 2:
        out.reason = f"{k} ranked method(s) with a score on every column"
        return out
    if n < 2:
        out.reason = f"{n} dataset column(s); a test over columns needs several"
        return out
    values = [wide[m].to_numpy(dtype=float) for m in wide.columns]
    with warnings.catch_warnings():  # equal scores everywhere: scipy returns NaN with a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        if k == 2:
            out.test = "wilcoxon"
            if np.allclose(values[0], values[1], rtol=0, atol=10**-PRECISION):
                out.reason = "the two methods score the same on every column"
                return out
            result = wilcoxon(values[0], values[1])
        else:
            out.test = "friedman"
            result = friedmanchisquare(*values)
    out.statistic, out.pvalue = float(result.statistic), float(result.pvalue)
    if not np.isfinite(out.pvalue):
        out.reason = "every method scores the same on every column"
    if out.test == "friedman" and out.significant:
        out.cd = nemenyi_cd(k, n)
    return out


def verdict(lo: float, hi: float, margin: float = EQUIVALENCE_MARGIN) -> str:
    """``tie`` when [lo, hi] lies inside ±margin, ``higher``/``lower`` when it excludes zero,
    ``inconclusive`` when it holds zero but reaches past the margin."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if -margin <= lo and hi <= margin:
        return "tie"
    if lo > 0:
        return "higher"
    if hi < 0:
        return "lower"
    return "inconclusive"


def client_units(scores: pd.DataFrame, methods: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Wide per-client scores: one row per (dataset, partition, client) scored by every method,
    one column per method (its score averaged over seeds), plus the client's ``weight``."""
    wanted = scores[[(a, v) in set(methods) for a, v in zip(scores["algorithm"], scores["variant"])]]
    wide = wanted.pivot_table(index=UNIT, columns=["algorithm", "variant"], values="value", aggfunc="mean")
    wide = wide[[m for m in methods if m in wide.columns]].dropna()
    weight = wanted.groupby(UNIT)["weight"].first()
    wide.columns = [f"{a}|{v}" for a, v in wide.columns]
    return wide.join(weight, how="left")


def _columns(units: pd.DataFrame, value_columns: list[str], rule: SelectionRule) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per dataset column: its clients' values (clients × methods) and weights (equal for the per-client mean)."""
    out = []
    for _, frame in units.groupby(level=["dataset", "partition"], sort=True):
        weights = frame["weight"].to_numpy(dtype=float) if rule.combine == "sample_weighted" else np.ones(len(frame))
        out.append((frame[value_columns].to_numpy(dtype=float), weights))
    return out


def _stratified_bootstrap(columns: list[tuple[np.ndarray, np.ndarray]], per_column, n_boot: int, seed: int):
    """Percentile interval of ``mean over columns of per_column(values, weights)`` (a vector per
    column), resampling each column's clients independently with ``scipy.stats.bootstrap``.

    A column with a single client cannot be resampled (scipy needs two observations): it enters
    every replicate as it is. Returns (point, lo, hi) arrays.
    """
    from scipy.stats import bootstrap

    resampled = [i for i, (values, _) in enumerate(columns) if len(values) > 1]
    fixed = [per_column(*columns[i]) for i in range(len(columns)) if i not in resampled]

    def statistic(*indices, axis=-1):
        parts = []
        for i, idx in zip(resampled, indices):
            values, weights = columns[i]
            parts.append(per_column(values[idx], weights[idx]))  # batch + (outputs,)
        batch = parts[0].shape[:-1] if parts else ()
        parts += [np.broadcast_to(f, batch + f.shape) for f in fixed]
        return np.moveaxis(np.mean(parts, axis=0), -1, 0)  # (outputs,) + batch

    point = np.mean([per_column(*c) for c in columns], axis=0)
    if not resampled:
        return point, point.copy(), point.copy()
    data = [np.arange(len(columns[i][0])) for i in resampled]
    result = bootstrap(
        data, statistic, n_resamples=n_boot, vectorized=True, paired=False, confidence_level=CONFIDENCE, method="percentile", rng=seed
    )
    ci = result.confidence_interval
    return point, np.atleast_1d(ci.low), np.atleast_1d(ci.high)


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean over the clients axis (-2) weighted by ``weights`` (clients axis -1): batch + (methods,)."""
    return np.einsum("...nm,...n->...m", values, weights) / weights.sum(-1)[..., None]


def stratified_mean_interval(
    units: pd.DataFrame, value: str = "value", n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float, int]:
    """The mean over dataset columns of the per-column client mean of ``units[value]``, with the
    same stratified bootstrap interval as :func:`paired_difference` (clients resampled within
    each (dataset, partition) column; a client's rows over seeds averaged first, seeds sharing
    its data). Units without a ``client`` column (one value per run, e.g. its cost) are runs,
    resampled within their column. Returns (estimate, lo, hi, n_units); NaNs and 0 when empty."""
    if units.empty:
        return float("nan"), float("nan"), float("nan"), 0
    unit = UNIT if "client" in units else ["dataset", "partition", "seed"]
    clients = units.groupby(unit, sort=True)[value].mean().to_frame("value").assign(weight=1.0)
    point, lo, hi = _stratified_bootstrap(_columns(clients, ["value"], DEFAULT), _weighted_mean, n_boot, seed)
    return float(point[0]), float(lo[0]), float(hi[0]), int(len(clients))


def paired_difference(
    scores: pd.DataFrame,
    first: tuple[str, str],
    second: tuple[str, str],
    rule: SelectionRule = DEFAULT,
    n_boot: int = 2000,
    seed: int = 0,
    margin: float = EQUIVALENCE_MARGIN,
) -> dict:
    """``first − second`` averaged over dataset columns, with a stratified bootstrap interval.

    ``scores`` are per-client scores (:func:`fhbench.reporting.selection.client_scores`); methods
    are (algorithm, variant). Clients scored by both are the units: per column, the clients'
    differences (seed-averaged) are combined as ``rule`` combines clients; the estimate is their
    mean over columns, and each replicate resamples every column's clients with replacement.
    Returns ``mean``, ``lo``, ``hi``, ``n`` (paired clients), ``n_columns``, ``verdict``
    (:func:`verdict` at ``margin``), ``tie`` (verdict is tie) and ``margin``.
    """
    units = client_units(scores, [first, second])
    a, b = f"{first[0]}|{first[1]}", f"{second[0]}|{second[1]}"
    empty = {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0, "n_columns": 0, "margin": margin}
    if units.empty or a not in units or b not in units:
        return empty | {"verdict": "inconclusive", "tie": False}
    if rule.combine == "sample_weighted" and units["weight"].isna().any():
        raise ValueError("sample-weighted differences need every client's test size (the engine's data/n_test rows)")
    units = units.assign(diff=units[a] - units[b])
    point, lo, hi = _stratified_bootstrap(_columns(units, ["diff"], rule), _weighted_mean, n_boot, seed)
    out = {
        "mean": float(point[0]),
        "lo": float(lo[0]),
        "hi": float(hi[0]),
        "n": int(len(units)),
        "n_columns": int(units.groupby(level=["dataset", "partition"]).ngroups),
        "margin": margin,
    }
    out["verdict"] = verdict(out["lo"], out["hi"], margin)
    out["tie"] = out["verdict"] == "tie"
    return out


def bootstrap_ranks(
    scores: pd.DataFrame, methods: Sequence[tuple[str, str]], rule: SelectionRule = DEFAULT, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Average rank of each method over dataset columns, with a stratified bootstrap interval.

    Each replicate resamples every column's clients (seed-averaged, scored by every method) with
    replacement, the same clients for every method so the pairing holds, ranks the methods by
    their combined score on each column (ties at the printed precision share ranks) and averages
    the ranks over columns.
    """
    from scipy.stats import rankdata

    units = client_units(scores, methods)
    names = [c for c in units.columns if c != "weight"]
    if units.empty or not names:
        return pd.DataFrame(columns=["algorithm", "variant", "avg_rank", "lo", "hi"])

    def column_ranks_of(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return rankdata(-_weighted_mean(values, weights).round(PRECISION), axis=-1, method="average")

    point, lo, hi = _stratified_bootstrap(_columns(units, names, rule), column_ranks_of, n_boot, seed)
    out = pd.DataFrame([n.split("|", 1) for n in names], columns=["algorithm", "variant"])
    out["avg_rank"], out["lo"], out["hi"] = point, lo, hi
    return out.sort_values("avg_rank", kind="stable").reset_index(drop=True)
