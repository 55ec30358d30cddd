"""Classification metrics and the tidy per-client table's conventions.

Raw rows are (round, client, split, metric, value). At each evaluation round a client's ``val``
and ``test`` parts get ``accuracy``, ``balanced_accuracy``, ``macro_f1`` and ``loss`` (mean
cross-entropy); ``train``/``loss`` is its training loss; ``comm`` rows count bytes; round 0
holds each client's part sizes once (split ``data``, metrics ``n_train``, ``n_val``, ``n_test``).
Which round a client is scored at, and how clients combine, is :mod:`fhbench.reporting.selection`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RUN_KEYS = ["dataset", "partition", "algorithm", "variant", "seed"]
METRIC_COLUMNS = ["dataset", "partition", "algorithm", "variant", "seed", "round", "client", "split", "metric", "value"]
# metrics.csv adds the evaluation point of each val/test row (empty for train/comm/run rows).
# Kept last so frames built from METRIC_COLUMNS alone (older files, tests) read as ``local``.
EVAL_POINT = "eval_point"
FILE_COLUMNS = METRIC_COLUMNS + [EVAL_POINT]
#: ``local``: after local training, before aggregation (the published protocol, the default);
#: ``received``: the model a client holds after the server's message, before it trains again.
EVAL_POINTS = ("local", "received")
# Rows of clients held out of training (unseen clients, fhbench.newcomers) carry ``newcomer``:
# at_eval_point never selects them, so no summary or table of participating clients reads them.


def at_eval_point(metrics: pd.DataFrame, point: str = "local") -> pd.DataFrame:
    """The rows of one evaluation point: its val/test rows plus every non-evaluation row.

    Metrics without an ``eval_point`` column (written before both points existed) are ``local``.
    """
    if point not in EVAL_POINTS:
        raise ValueError(f"eval_point must be one of {EVAL_POINTS}, got {point!r}")
    if EVAL_POINT not in metrics.columns:
        return metrics if point == "local" else metrics[~metrics["split"].isin(["val", "test"])]
    scored = metrics["split"].isin(["val", "test"])
    return metrics[~scored | (metrics[EVAL_POINT] == point)]


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


def bottom_count(n_clients: int) -> int:
    """How many clients ``bottom10`` averages: the worst 10% (rounded down), at least one
    (LEAF reports the 10th percentile of clients; 20 clients give 2)."""
    return max(1, int(n_clients) // 10)


def bottom10(values) -> float:
    """Mean of the lowest :func:`bottom_count` finite values (NaN when none is finite).

    The one definition of the worst-off clients' summary: run scores
    (:func:`fhbench.reporting.selection.run_scores`), tables and TensorBoard all call it.
    """
    values = np.asarray(values, dtype=float).ravel()
    finite = np.sort(values[np.isfinite(values)])
    return float(finite[: bottom_count(len(finite))].mean()) if len(finite) else float("nan")


def diverged_runs(metrics: pd.DataFrame) -> pd.DataFrame:
    """Run keys of the runs that stopped on a non-finite loss (a ``run``/``diverged`` row)."""
    keys = [c for c in RUN_KEYS if c in metrics.columns]
    rows = metrics[(metrics.split == "run") & (metrics.metric == "diverged") & (metrics.value > 0)]
    return rows[keys].drop_duplicates().reset_index(drop=True)
