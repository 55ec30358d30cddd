"""Label-prior reference rows: what a table's numbers are worth without any learning.

With Dirichlet label skew a client's own majority class is a strong predictor, so a method's
accuracy means little until it is read against the label priors. Two predictors are computed
from the splits alone, without training, and scored exactly as a run is scored (per client,
on its validation and test parts, every metric, at every evaluation point):

- ``local prior``: each client predicts the majority class of its own training part (a client
  without training rows predicts the global majority);
- ``global prior``: every client predicts the majority class of all clients' training parts.

Ties between classes go to the lowest class index. Planted-structure splits are scored on the
labels each client sees (its ``label_map``). The rows have the tidy layout of a run's
``metrics.csv`` (:data:`fhbench.metrics.FILE_COLUMNS`) with the method in the ``algorithm``
column, round 0 and one seed (they do not depend on it), so tables treat them as reference rows
(never ranked, never best) through the same code as every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from fhbench.metrics import EVAL_POINTS, FILE_COLUMNS, classification_metrics

LOCAL_PRIOR = "local prior"
GLOBAL_PRIOR = "global prior"
PRIORS = (LOCAL_PRIOR, GLOBAL_PRIOR)
PRIOR_SEED = 0  # the rows do not depend on a seed; one seed keeps their cells without a std


def majority(labels: np.ndarray, n_classes: int) -> int | None:
    """The most frequent class (lowest index on ties); None for no labels."""
    labels = np.asarray(labels, dtype=np.int64)
    return int(np.bincount(labels, minlength=n_classes).argmax()) if len(labels) else None


def prior_predictions(labels: np.ndarray, clients: Sequence[dict]) -> dict[str, list[int]]:
    """Per prior, the class each client predicts (``clients``: the split's client entries)."""
    n_classes = int(labels.max()) + 1 if len(labels) else 1
    train = [np.asarray(labels[np.asarray(c["train"], dtype=np.int64)]) for c in clients]
    pooled = majority(np.concatenate(train) if train else np.zeros(0, dtype=np.int64), n_classes)
    pooled = 0 if pooled is None else pooled
    local = [majority(t, n_classes) for t in train]
    return {LOCAL_PRIOR: [pooled if m is None else m for m in local], GLOBAL_PRIOR: [pooled] * len(clients)}


def prior_rows(labels: np.ndarray, split: dict, dataset: str, partition: str) -> list[tuple]:
    """Tidy metric rows of both priors for one (dataset, partition) split.

    ``labels`` are the prepared labels (before any planted relabelling); ``split`` the split's JSON.
    """
    from fhbench.partition import apply_label_maps

    labels = apply_label_maps(np.asarray(labels, dtype=np.int64), split)
    clients = split["clients"]
    rows = []
    for method, predicted in prior_predictions(labels, clients).items():
        for client, (entry, guess) in enumerate(zip(clients, predicted)):
            for part in ("val", "test"):
                truth = labels[np.asarray(entry[part], dtype=np.int64)]
                scores = classification_metrics(truth, np.full(len(truth), guess))
                for point in EVAL_POINTS:
                    for metric, value in scores.items():
                        rows.append((dataset, partition, method, "default", PRIOR_SEED, 0, client, part, metric, value, point))
    return rows


def prior_frame(sources: Iterable[tuple[str, str, str | Path, str | Path]]) -> pd.DataFrame:
    """Both priors for every ``(dataset, partition, prepared_dir, split_path)``, as tidy metric rows."""
    from fhbench.data.prepared import load_prepared
    from fhbench.io import read_json

    rows = []
    for dataset, partition, prepared_dir, split_path in sources:
        rows += prior_rows(load_prepared(prepared_dir).labels, read_json(split_path), dataset, partition)
    return pd.DataFrame(rows, columns=FILE_COLUMNS)


def write_split_priors(prepared_dir: str | Path, split_path: str | Path, out: str | Path) -> pd.DataFrame:
    """The priors of one split, written beside it (``make_partition``), atomically.

    A split file can serve several partition names with the same settings, so the dataset and
    partition columns are left empty here and filled in by :func:`load_priors`.
    """
    from fhbench.io import write_texts

    frame = prior_frame([("", "", prepared_dir, split_path)])
    write_texts({out: frame.to_csv(index=False)})
    return frame


def load_priors(sources: Iterable[tuple[str, str, str | Path]]) -> pd.DataFrame:
    """The split priors files of ``(dataset, partition, path)`` as one frame, each file's rows
    labelled with its dataset and partition. Raises ``FileNotFoundError`` naming a missing file."""
    frames = []
    for dataset, partition, path in sources:
        if not Path(path).is_file():
            raise FileNotFoundError(f"label priors of {dataset}/{partition}: no file {path} (made by make_partition)")
        frames.append(pd.read_csv(path).assign(dataset=dataset, partition=partition))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FILE_COLUMNS)


def write_priors(out: str | Path, sources: Iterable[tuple[str, str, str | Path]]) -> pd.DataFrame:
    """The label-priors table of every used split (the ``label_priors`` rule), atomically."""
    from fhbench.io import write_texts

    frame = load_priors(sources)
    write_texts({out: frame.to_csv(index=False)})
    return frame


def with_priors(metrics: pd.DataFrame, priors: pd.DataFrame | None, spec: dict | None = None) -> tuple[pd.DataFrame, list[str]]:
    """``metrics`` plus the prior rows of the (dataset, partition) columns it has, and the
    reference list extended by the priors present (``spec['references']`` first).

    The priors of a column only join when the column has runs: a table never gains a column
    from them.
    """
    references = list((spec or {}).get("references", []))
    if priors is None or priors.empty or metrics.empty:
        return metrics, references
    columns = metrics[["dataset", "partition"]].drop_duplicates()
    rows = priors.merge(columns, on=["dataset", "partition"], how="inner")
    if rows.empty:
        return metrics, references
    present = [p for p in PRIORS if p in set(rows["algorithm"])]
    return pd.concat([metrics, rows[metrics.columns.intersection(rows.columns)]], ignore_index=True), references + present


def read_priors(priors: str | Path | Iterable[tuple[str, str, str | Path]] | None) -> pd.DataFrame | None:
    """The label-priors table (a path) or split priors files (``(dataset, partition, path)``)."""
    if priors is None:
        return None
    if isinstance(priors, (str, Path)):
        return pd.read_csv(priors)
    return load_priors(priors)
