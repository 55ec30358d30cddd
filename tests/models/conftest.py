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
    engine: str = "sequential",
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
        "engine": engine,
    }
    status = run_federation(config, prepared, split, model_dir, tmp_path / "metrics.csv")
    assert status == "completed"
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    # what check_federated_metrics needs to recompute sizes and bytes apart from the run
    metrics.attrs["run"] = {"split": split, "architecture": architecture, "model_dir": model_dir, "config": config, "labels": labels}
    return metrics


def check_federated_metrics(metrics: pd.DataFrame, n_clients: int = 3) -> None:
    """Both rounds trained every client with a finite loss and scored it on val and test."""
    loss = metrics[(metrics.split == "train") & (metrics.metric == "loss")]
    assert sorted(loss["round"].unique()) == [1, 2]
    assert len(loss) == 2 * n_clients and np.isfinite(loss["value"]).all()
    scored = metrics[(metrics.metric == "accuracy") & metrics.split.isin(["val", "test"])]
    assert set(scored["client"]) == set(range(n_clients)) and scored["value"].between(0, 1).all()
    up = metrics[metrics.metric == "upload_bytes"]["value"]
    assert (up > 0).all()
    if "run" in metrics.attrs:
        check_scores_and_bytes(metrics, **metrics.attrs["run"])


# What each algorithm sends per client and round, in tensor groups (docs/algorithms.md):
# A, B = the LoRA matrices, H = the trained head; float32, 4 bytes a number.
SENT = {"epfl": ("AB", "A"), "fedavg": ("ABH", "ABH")}


def check_scores_and_bytes(metrics: pd.DataFrame, split: Path, architecture: str, model_dir: Path, config: dict, labels) -> None:
    """Scores are fractions of each client's own val/test rows; bytes are the tensors the algorithm
    sends, counted on a separately loaded, LoRA-wrapped copy of the model."""
    import json

    from fhbench.models import LoraSpec, get_backbone, wrap_with_lora

    clients = json.loads(split.read_text())["clients"]
    for (client, part), rows in metrics[(metrics.metric == "accuracy") & metrics.split.isin(["val", "test"])].groupby(["client", "split"]):
        n = len(clients[client][part])
        assert n > 0 and np.allclose(rows["value"] * n, np.round(rows["value"] * n), atol=1e-6), (client, part, n, rows["value"].tolist())
    backbone = get_backbone(architecture)
    model = wrap_with_lora(backbone.load(model_dir, n_classes=int(np.max(labels)) + 1), backbone, LoraSpec(**config["lora"]))
    a, b = lora_counts(model)
    size = {"A": a, "B": b, "H": sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n)}
    up, down = (4 * sum(size[g] for g in groups) for groups in SENT[config["algorithm"]])
    comm = metrics[metrics.split == "comm"].pivot_table(index=["round", "client"], columns="metric", values="value")
    assert len(comm) == 2 * len(clients)
    assert (comm["upload_bytes"] == up).all() and (comm["download_bytes"] == down).all(), (up, down, comm)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
