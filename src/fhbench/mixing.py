"""EPFL's weights as data: the server's N × N matrices per evaluation round, tidy.

The engine writes, per run, ``mixing.csv`` with one row per (round, matrix, i, j): ``mixing``
(row i: the weights client i applies to every client j), ``b_distance`` (the B-matrix distance
they come from) and, at round 0, what the weights can be read against: ``label_distance``
(total-variation distance of two clients' training label distributions), each client's
``dominant_class`` and, for planted-structure splits, its ``planted_group`` (per-client values
sit on the diagonal, i = j). :func:`concentration` turns a run's rows into the numbers
REPORT.md quotes; :func:`fhbench.reporting.figures.plot_mixing_figure` draws the heatmaps.

EPFL's extensions add ``shrinkage`` (``weights: shrunk``: each client's pull toward uniform, per
client at i = j) and, with ``layers: adaptive``, ``layer_spread`` and ``layer_chosen`` (1 if the
LoRA B tensor took part in the distance): these are indexed by B tensor, i = j = its position
in model order, and recorded at every round, not only at evaluation rounds (:func:`recorded_at`);
:func:`layer_choices` reads them and :func:`fhbench.reporting.figures.plot_layer_choice` draws them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from fhbench.metrics import RUN_KEYS

MIXING_COLUMNS = RUN_KEYS + ["round", "matrix", "i", "j", "value"]
PER_CLIENT = ("dominant_class", "planted_group", "shrinkage")  # one value per client, stored at i = j
LAYER_PREFIX = "layer_"  # per LoRA B tensor (i = j = its index in model order), recorded every round


def recorded_at(name: str, eval_round: bool) -> bool:
    """Whether the server matrix ``name`` is written at this round: all at evaluation rounds;
    the per-layer records (a few numbers) at every round, so each round's choice is on file."""
    return eval_round or name.startswith(LAYER_PREFIX)


def layer_choices(frame: pd.DataFrame) -> pd.DataFrame:
    """One run's per-round layer records: one row per (round, layer) with ``spread`` and ``chosen``."""
    rows = frame[frame["matrix"].isin(["layer_spread", "layer_chosen"]) & (frame["i"] == frame["j"])]
    if rows.empty:
        return pd.DataFrame(columns=["round", "layer", "spread", "chosen"])
    wide = rows.pivot_table(index=["round", "i"], columns="matrix", values="value", aggfunc="first").reset_index()
    wide = wide.rename(columns={"i": "layer", "layer_spread": "spread", "layer_chosen": "chosen"})
    wide["chosen"] = wide["chosen"].astype(bool)
    return (
        wide[["round", "layer", "spread", "chosen"]].astype({"round": int, "layer": int}).sort_values(["round", "layer"], ignore_index=True)
    )


def client_relations(train_labels: Sequence[np.ndarray], planted_groups: Sequence | None = None) -> dict[str, np.ndarray]:
    """Per-client facts of the data: label-distribution distances, dominant class, planted group."""
    n_classes = int(max((int(y.max()) + 1 for y in train_labels if len(y)), default=1))
    counts = np.stack([np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes) for y in train_labels]).astype(float)
    dist = counts / np.maximum(counts.sum(1, keepdims=True), 1.0)
    out = {
        "label_distance": 0.5 * np.abs(dist[:, None, :] - dist[None, :, :]).sum(-1),
        "dominant_class": np.where(counts.sum(1) > 0, counts.argmax(1), -1),
    }
    if planted_groups is not None and all(g is not None for g in planted_groups):
        out["planted_group"] = np.asarray(planted_groups, dtype=float)
    return out


def matrix_rows(keys: tuple, round_: int, matrices: dict) -> list[tuple]:
    """Tidy rows ``keys + (round, matrix, i, j, value)``; a 1-D array gives one row per client at i = j."""
    rows = []
    for name, matrix in matrices.items():
        values = np.asarray(matrix.detach().cpu().numpy() if hasattr(matrix, "detach") else matrix, dtype=float)
        if values.ndim == 1:
            rows += [(*keys, round_, name, i, i, float(v)) for i, v in enumerate(values)]
        else:
            rows += [(*keys, round_, name, i, j, float(values[i, j])) for i in range(values.shape[0]) for j in range(values.shape[1])]
    return rows


def mixing_frame(rows: Sequence[tuple]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=MIXING_COLUMNS)


def matrix_at(frame: pd.DataFrame, name: str, round_: int | None = None) -> np.ndarray:
    """One run's N × N ``name`` matrix at ``round_`` (default: its last round holding that matrix)."""
    rows = frame[frame["matrix"] == name]
    if rows.empty:
        raise ValueError(f"no {name!r} rows")
    round_ = int(rows["round"].max()) if round_ is None else round_
    rows = rows[rows["round"] == round_]
    n = int(max(rows["i"].max(), rows["j"].max())) + 1
    out = np.zeros((n, n))
    out[rows["i"].to_numpy(int), rows["j"].to_numpy(int)] = rows["value"].to_numpy(float)
    return out


def per_client(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    """A per-client value (dominant class, planted group) as a vector, or None when not recorded."""
    rows = frame[(frame["matrix"] == name) & (frame["i"] == frame["j"])].sort_values("i")
    return rows["value"].to_numpy(float) if len(rows) else None


def off_diagonal_shares(weights: np.ndarray) -> np.ndarray:
    """Row-normalised off-diagonal weights (the diagonal zeroed): where each client's shared part goes."""
    w = np.array(weights, dtype=float)
    np.fill_diagonal(w, 0.0)
    total = w.sum(1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def concentration(frame: pd.DataFrame, k: int = 3, round_: int | None = None) -> dict[str, float]:
    """How concentrated one run's mixing weights are, at its last evaluation round by default.

    ``nearest_share``: mean over clients of the share of off-diagonal weight on its ``k``
    nearest clients by label distribution, against ``nearest_uniform`` = k / (N − 1) for equal
    weights. ``top_share``: the share on its ``k`` most weighted clients (how peaked the weights
    are at all). With planted groups, ``within_share`` (off-diagonal weight inside the client's
    own group) against ``within_uniform`` = mean of (n_g − 1) / (N − 1).
    """
    shares = off_diagonal_shares(matrix_at(frame, "mixing", round_))
    n = len(shares)
    if n < 2:
        raise ValueError("concentration needs at least two clients")
    k = max(1, min(k, n - 1))
    label = matrix_at(frame, "label_distance", 0)
    out = {"n_clients": n, "k": k, "nearest_uniform": k / (n - 1)}
    nearest, top = [], []
    for i in range(n):
        others = np.array([j for j in range(n) if j != i])
        order = others[np.lexsort((others, label[i, others]))]  # nearest first, ties by index
        nearest.append(shares[i, order[:k]].sum())
        top.append(np.sort(shares[i, others])[::-1][:k].sum())
    out["nearest_share"], out["top_share"] = float(np.mean(nearest)), float(np.mean(top))
    groups = per_client(frame, "planted_group")
    if groups is not None:
        same = groups[:, None] == groups[None, :]
        np.fill_diagonal(same, False)
        out["within_share"] = float(np.mean((shares * same).sum(1)))
        out["within_uniform"] = float(np.mean(same.sum(1) / (n - 1)))
    return out


def client_order(frame: pd.DataFrame) -> np.ndarray:
    """Clients ordered by planted group (if any), then dominant training class, then index."""
    dominant = per_client(frame, "dominant_class")
    n = len(dominant) if dominant is not None else len(matrix_at(frame, "mixing"))
    dominant = dominant if dominant is not None else np.zeros(n)
    groups = per_client(frame, "planted_group")
    keys = (np.arange(n), dominant) + ((groups,) if groups is not None else ())
    return np.lexsort(keys)
