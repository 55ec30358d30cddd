"""Does the benchmark measure learning? Checks of a finished grid against its label priors.

A table can only show that a method works where models learn beyond what the label priors
give (:mod:`fhbench.reporting.priors`) and where methods train differently. Three checks, each
computed from the runs' tidy metrics:

- :func:`centralized_margin`: per dataset, the centralized reference's protocol score against
  the global prior (the pooled-data upper reference must clear it);
- :func:`training_difference`: per dataset, how much one method's per-client training loss
  differs from another's after round 1 (EPFL against ``local``: equal losses mean EPFL's
  aggregation changed nothing);
- :func:`identical_pairs`: pairs of methods whose per-client test scores are equal in every
  evaluated round (a mechanism that never acts).

``benchmarks/demo_learns.py`` runs them on a finished demo and prints PASS/FAIL per condition.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from fhbench.metrics import at_eval_point
from fhbench.reporting.priors import GLOBAL_PRIOR, LOCAL_PRIOR
from fhbench.reporting.tables import seed_scores


def centralized_margin(metrics: pd.DataFrame, priors: pd.DataFrame, reference: str = "centralized") -> pd.DataFrame:
    """Per (dataset, partition): mean protocol score (over seeds) of ``reference``, both priors and
    the margin ``reference − global prior`` (fractions, not percent)."""
    scores = seed_scores(pd.concat([metrics, priors], ignore_index=True))
    cell = scores.groupby(["dataset", "partition", "algorithm"])["score"].mean().unstack("algorithm")
    out = pd.DataFrame(index=cell.index)
    for name in (reference, GLOBAL_PRIOR, LOCAL_PRIOR):
        out[name] = cell[name] if name in cell else np.nan
    out["margin"] = out[reference] - out[GLOBAL_PRIOR]
    return out.reset_index()


def _series(metrics: pd.DataFrame, algorithm: str, variant: str, split: str, metric: str) -> pd.Series:
    rows = metrics[
        (metrics["algorithm"] == algorithm) & (metrics["variant"] == variant) & (metrics["split"] == split) & (metrics["metric"] == metric)
    ]
    return rows.set_index(["dataset", "partition", "seed", "round", "client"])["value"].sort_index()


def training_difference(metrics: pd.DataFrame, first: str, second: str, variant: str = "default") -> pd.DataFrame:
    """Per (dataset, partition, seed): the largest relative difference of per-client training loss
    between two algorithms after round 1 (round 1 starts both from the same tensors), and the
    share of (client, round) pairs whose losses differ by more than 1e-6 relative."""
    a = _series(metrics, first, variant, "train", "loss")
    b = _series(metrics, second, variant, "train", "loss")
    joined = pd.concat({"a": a, "b": b}, axis=1, join="inner").reset_index()
    joined = joined[(joined["round"] > 1) & joined["a"].notna() & joined["b"].notna()]
    joined["rel"] = (joined["a"] - joined["b"]).abs() / joined[["a", "b"]].abs().max(axis=1).clip(lower=1e-12)
    out = joined.groupby(["dataset", "partition", "seed"])["rel"].agg(max_rel="max", share_differing=lambda r: float((r > 1e-6).mean()))
    return out.reset_index()


def identical_pairs(metrics: pd.DataFrame, metric: str = "accuracy", eval_point: str = "local") -> pd.DataFrame:
    """Pairs of methods (algorithm, variant) with equal per-client test ``metric`` in every
    evaluated round of every seed they share, per (dataset, partition)."""
    scored = at_eval_point(metrics, eval_point)
    test = scored[(scored["split"] == "test") & (scored["metric"] == metric)]
    rows = []
    for (dataset, partition), frame in test.groupby(["dataset", "partition"], sort=True):
        series = {
            method: part.set_index(["seed", "round", "client"])["value"].sort_index()
            for method, part in frame.groupby(["algorithm", "variant"])
        }
        for one, two in combinations(sorted(series), 2):
            joined = pd.concat({"a": series[one], "b": series[two]}, axis=1, join="inner")
            if len(joined) and np.array_equal(joined["a"].to_numpy(), joined["b"].to_numpy(), equal_nan=True):
                rows.append({"dataset": dataset, "partition": partition, "first": one, "second": two, "points": len(joined)})
    return pd.DataFrame(rows, columns=["dataset", "partition", "first", "second", "points"])
