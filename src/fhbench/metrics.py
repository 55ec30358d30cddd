"""Classification metrics and the summaries derived from the tidy per-client table.

Raw rows are (round, client, split, metric, value); every summary is computed from them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRIC_COLUMNS = ["dataset", "partition", "algorithm", "variant", "seed", "round", "client", "split", "metric", "value"]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro-F1 (same conventions as scikit-learn).

    Balanced accuracy averages recall over the classes present in ``y_true``; macro-F1 averages
    F1 over the classes present in ``y_true`` or ``y_pred``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if len(y_true) == 0:
        return {"accuracy": float("nan"), "balanced_accuracy": float("nan"), "macro_f1": float("nan")}
    n = int(max(y_true.max(), y_pred.max())) + 1
    confusion = np.bincount(y_true * n + y_pred, minlength=n * n).reshape(n, n).astype(float)
    tp = np.diag(confusion)
    support = confusion.sum(1)
    predicted = confusion.sum(0)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros(n), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros(n), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n), where=denom > 0)
    labels = present | (predicted > 0)
    return {
        "accuracy": float(tp.sum() / len(y_true)),
        "balanced_accuracy": float(recall[present].mean()),
        "macro_f1": float(f1[labels].mean()),
    }


def best_validation_scores(metrics: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Per client, the test score recorded when validation accuracy last strictly improved.

    This is the published evaluation protocol (PROTOCOL §4): validation accuracy is checked at
    every evaluation round and the test score is kept from the first round reaching the best.
    Returns one row per (run keys, client) with ``best_round`` and ``value``.
    """
    keys = [c for c in ("dataset", "partition", "algorithm", "variant", "seed") if c in metrics.columns]
    val = metrics[(metrics.split == "val") & (metrics.metric == "accuracy")]
    test = metrics[(metrics.split == "test") & (metrics.metric == metric)]
    rows = []
    for group, v in val.groupby(keys + ["client"], sort=True):
        v = v.sort_values("round")
        best_round = int(v.loc[v["value"].idxmax(), "round"])  # idxmax takes the first maximum
        t = test.set_index(keys + ["client", "round"])["value"]
        rows.append((*group, best_round, float(t.loc[(*group, best_round)])))
    return pd.DataFrame(rows, columns=keys + ["client", "best_round", "value"])


def run_summary(metrics: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """One row per run: the protocol figure (mean over clients), its spread and the worst client."""
    per_client = best_validation_scores(metrics, metric)
    keys = [c for c in ("dataset", "partition", "algorithm", "variant", "seed") if c in per_client.columns]
    grouped = per_client.groupby(keys)["value"]
    out = grouped.agg(mean="mean", std="std", worst="min").reset_index()
    out["metric"] = metric
    return out
