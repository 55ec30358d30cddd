"""The one prepared format every dataset is turned into.

A prepared dataset is a folder holding

- ``inputs.npy``: the model inputs, one row per sample (images ``N×H×W`` uint8, audio ``N×T``,
  time series ``N×C×T``), memory-mappable;
- ``labels.npy``: int64 class labels;
- ``metadata.csv``: one row per sample (label plus patient/subject/device/site/source split
  where the dataset has them), used by natural partitions and the dataset table;
- ``info.json``: dataset key, modality, class names and shapes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fhbench.io import atomic_path


@dataclass
class PreparedDataset:
    inputs: np.ndarray
    labels: np.ndarray
    metadata: pd.DataFrame
    info: dict

    @property
    def n_classes(self) -> int:
        return int(self.info["n_classes"])

    def __len__(self) -> int:
        return len(self.labels)


def write_prepared(out_dir: str | Path, inputs: np.ndarray, labels: np.ndarray, metadata: pd.DataFrame, info: dict) -> None:
    """Write a prepared dataset folder atomically (all files appear together or none)."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(inputs) != len(labels) or len(metadata) != len(labels):
        raise ValueError(f"inputs ({len(inputs)}), labels ({len(labels)}) and metadata ({len(metadata)}) differ in length")
    info = dict(info)
    info.update(n_samples=int(len(labels)), input_shape=list(inputs.shape[1:]), input_dtype=str(inputs.dtype))
    info.setdefault("n_classes", int(labels.max()) + 1)
    metadata = metadata.copy()
    metadata.insert(0, "label", labels)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        np.save(tmp / "inputs.npy", inputs)
        np.save(tmp / "labels.npy", labels)
        metadata.to_csv(tmp / "metadata.csv", index=False)
        (tmp / "info.json").write_text(json.dumps(info, indent=1) + "\n")


def load_prepared(path: str | Path, mmap: bool = True) -> PreparedDataset:
    """Load a prepared folder; inputs are memory-mapped so large datasets cost no RAM up front."""
    path = Path(path)
    missing = [n for n in ("inputs.npy", "labels.npy", "metadata.csv", "info.json") if not (path / n).exists()]
    if missing:
        raise FileNotFoundError(f"prepared dataset {path} lacks {', '.join(missing)}; run the prepare step first")
    return PreparedDataset(
        inputs=np.load(path / "inputs.npy", mmap_mode="r" if mmap else None),
        labels=np.load(path / "labels.npy"),
        metadata=pd.read_csv(path / "metadata.csv"),
        info=json.loads((path / "info.json").read_text()),
    )
