"""Classification metrics and the summaries derived from the tidy per-client table.

Raw rows are (round, client, split, metric, value); every summary is computed from them.
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


def best_validation_scores(metrics: pd.DataFrame, metric: str = "accuracy", eval_point: str = "local") -> pd.DataFrame:
    """Per client, the test score recorded when validation accuracy last strictly improved.

    This is the published evaluation protocol (docs/protocol.md §4): validation accuracy is checked at
    every evaluation round and the test score is kept from the first round reaching the best.
    Returns one row per (run keys, client) with ``best_round`` and ``value``.
    """
    metrics = at_eval_point(metrics, eval_point)
    keys = [c for c in RUN_KEYS if c in metrics.columns]
    group = keys + ["client"]
    val = metrics[(metrics.split == "val") & (metrics.metric == "accuracy") & metrics["value"].notna()]
    test = metrics[(metrics.split == "test") & (metrics.metric == metric)]
    # A client with an empty validation part (NaN accuracy) has no best round and no row. Sorted
    # by round, idxmax picks each client's first round reaching its best. One vectorised pass:
    # tables and REPORT.md summarise tens of thousands of client rows.
    val = val.sort_values(group + ["round"], kind="stable")
    best = val.loc[val.groupby(group, sort=True)["value"].idxmax(), group + ["round"]]
    scores = test[group + ["round", "value"]]
    out = best.merge(scores, on=group + ["round"], how="left", validate="one_to_one")
    out = out.rename(columns={"round": "best_round"}).reset_index(drop=True)
    out["best_round"] = out["best_round"].astype(int)
    out["value"] = out["value"].astype(float)
    return out[keys + ["client", "best_round", "value"]]


SUMMARY_COLUMNS = RUN_KEYS + [
    "metric",
    "mean",
    "std",
    "worst",
    "bottom10",
    "final_mean",
    "final_std",
    "final_worst",
    "final_bottom10",
    "n_clients",
    "diverged",
]


def bottom_count(n_clients: int) -> int:
    """How many clients ``bottom10`` averages: the worst 10% (rounded down), at least one
    (LEAF reports the 10th percentile of clients; 20 clients give 2)."""
    return max(1, int(n_clients) // 10)


def bottom10(values) -> float:
    """Mean of the lowest :func:`bottom_count` finite values (NaN when none is finite).

    The one definition of the worst-off clients' summary: run summaries, tables and TensorBoard
    all call it.
    """
    values = np.asarray(values, dtype=float).ravel()
    finite = np.sort(values[np.isfinite(values)])
    return float(finite[: bottom_count(len(finite))].mean()) if len(finite) else float("nan")


def final_round_scores(metrics: pd.DataFrame, metric: str = "accuracy", eval_point: str = "local") -> pd.DataFrame:
    """Per client, the test score at the run's last evaluated round (one row per run keys, client)."""
    metrics = at_eval_point(metrics, eval_point)
    keys = [c for c in RUN_KEYS if c in metrics.columns]
    test = metrics[(metrics.split == "test") & (metrics.metric == metric)]
    if test.empty:
        return pd.DataFrame(columns=keys + ["client", "round", "value"])
    last = test.groupby(keys)["round"].transform("max")
    return test[test["round"] == last][keys + ["client", "round", "value"]].reset_index(drop=True)


def diverged_runs(metrics: pd.DataFrame) -> pd.DataFrame:
    """Run keys of the runs that stopped on a non-finite loss (a ``run``/``diverged`` row)."""
    keys = [c for c in RUN_KEYS if c in metrics.columns]
    rows = metrics[(metrics.split == "run") & (metrics.metric == "diverged") & (metrics.value > 0)]
    return rows[keys].drop_duplicates().reset_index(drop=True)


def _spread(per_client: pd.DataFrame, keys: list[str], prefix: str = "") -> pd.DataFrame:
    """Mean, std (over clients, ddof 1), the worst client and the worst 10% (:func:`bottom10`) of ``value`` per run."""
    names = {name: f"{prefix}{name}" for name in ("mean", "std", "worst", "bottom10")}
    if per_client.empty:
        return pd.DataFrame(columns=keys + list(names.values()))
    out = per_client.groupby(keys)["value"].agg(mean="mean", std="std", worst="min", bottom10=bottom10).reset_index()
    return out.rename(columns=names)


def run_summary(metrics: pd.DataFrame, metric: str = "accuracy", eval_point: str = "local") -> pd.DataFrame:
    """One row per run: the protocol figure and its spread across clients, final-round values.

    Columns: ``mean`` is the published protocol's figure (test ``metric`` at each client's best
    validation round, averaged over clients), both at ``eval_point``; ``std``, ``worst`` and ``bottom10`` its spread across
    clients (sample std; the lowest client; the mean of the worst 10%, at least one, :func:`bottom10`).
    ``final_mean``/``final_std``/``final_worst``/``final_bottom10`` are the same
    over the test scores of the last evaluated round. ``n_clients`` counts the clients scored;
    ``diverged`` marks runs stopped on a non-finite loss (their values cover the rounds before,
    NaN when none was evaluated), so tables can mark them instead of silently dropping them.
    """
    keys = [c for c in RUN_KEYS if c in metrics.columns]
    runs = metrics[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    best = best_validation_scores(metrics, metric, eval_point)
    out = runs.merge(_spread(best, keys), on=keys, how="left")
    out = out.merge(_spread(final_round_scores(metrics, metric, eval_point), keys, "final_"), on=keys, how="left")
    counts = best.groupby(keys)["client"].nunique().rename("n_clients").reset_index() if not best.empty else None
    out = out.merge(counts, on=keys, how="left") if counts is not None else out.assign(n_clients=0)
    out["n_clients"] = out["n_clients"].fillna(0).astype(int)
    diverged = diverged_runs(metrics).assign(diverged=True)
    out = out.merge(diverged, on=keys, how="left")
    out["diverged"] = out["diverged"].astype("boolean").fillna(False).astype(bool)
    out["metric"] = metric
    for col in ("mean", "std", "worst", "bottom10", "final_mean", "final_std", "final_worst", "final_bottom10"):
        out[col] = out[col].astype(float)
    return out[[c for c in SUMMARY_COLUMNS if c in out.columns]]
