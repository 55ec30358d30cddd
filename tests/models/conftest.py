"""Helpers shared by the backbone tests: tiny twins, LoRA layouts, and a two-round federation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fhbench.data.prepared import write_prepared
from fhbench.io import write_json
from fhbench.partition import make_partition


def lora_counts(model) -> tuple[int, int]:
    """Numbers of LoRA A and B parameters of a peft-wrapped model."""
    a = sum(p.numel() for n, p in model.named_parameters() if "lora_A" in n)
    b = sum(p.numel() for n, p in model.named_parameters() if "lora_B" in n)
    return a, b


def federate(
    tmp_path: Path,
    architecture: str,
    model_dir: Path,
    inputs: np.ndarray,
    labels: np.ndarray,
    algorithm: str = "epfl",
    lora: dict | None = None,
    batch_size: int = 8,
) -> pd.DataFrame:
    """Two federated rounds through fhbench.federation.run_federation on synthetic prepared data."""
    from fhbench.federation import run_federation

    tmp_path.mkdir(parents=True, exist_ok=True)
    prepared = tmp_path / "prepared"
    write_prepared(
        prepared,
        inputs,
        labels,
        pd.DataFrame({"patient": np.arange(len(labels))}),
        {"key": "synthetic", "modality": "synthetic", "n_classes": int(labels.max()) + 1},
    )
    split = tmp_path / "split.json"
    write_json(split, make_partition(labels, "iid", 3, 0.5, 1.0, 2025).to_json(labels))
    config = {
        "dataset": "synthetic",
        "partition": "iid",
        "algorithm": algorithm,
        "seed": 0,
        "backbone": model_dir.name,
        "architecture": architecture,
        "rounds": 2,
        "lr": 0.05,
        "batch_size": batch_size,
        "eval_every": 1,
        "lora": lora or {"rank": 4, "alpha": 8, "dropout": 0.0},
        "device": "cpu",
        "threads": 1,
    }
    status = run_federation(config, prepared, split, model_dir, tmp_path / "metrics.csv")
    assert status == "completed"
    return pd.read_csv(tmp_path / "metrics.csv")


def check_federated_metrics(metrics: pd.DataFrame, n_clients: int = 3) -> None:
    """Both rounds trained every client with a finite loss and scored it on val and test."""
    loss = metrics[(metrics.split == "train") & (metrics.metric == "loss")]
    assert sorted(loss["round"].unique()) == [1, 2]
    assert len(loss) == 2 * n_clients and np.isfinite(loss["value"]).all()
    scored = metrics[(metrics.metric == "accuracy") & metrics.split.isin(["val", "test"])]
    assert set(scored["client"]) == set(range(n_clients)) and scored["value"].between(0, 1).all()
    up = metrics[metrics.metric == "upload_bytes"]["value"]
    assert (up > 0).all()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
