"""TensorBoard tracking: what a run logs, read back with TensorBoard's own reader, equals metrics.csv."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fhbench.federation import run_federation
from fhbench.grid import RunKey, tracking_dir
from fhbench.io import write_json
from fhbench.metrics import METRIC_COLUMNS
from fhbench.partition import make_partition
from fhbench.tracking import TensorBoardTracker, flat_hparams, round_scalars


@pytest.fixture(scope="module")
def split(demo_organamnist, tmp_path_factory):
    labels = np.load(demo_organamnist / "labels.npy")
    path = tmp_path_factory.mktemp("split") / "split.json"
    write_json(path, make_partition(labels, "fhbench", 5, 0.5, 1.0, 2025).to_json(labels.astype(int).ravel()))
    return path


def run_config(**overrides) -> dict:
    values = dict(
        dataset="organamnist",
        partition="fhbench",
        algorithm="epfl",
        seed=3,
        backbone="vit_tiny",
        architecture="vit",
        rounds=4,
        lr=0.05,
        batch_size=16,
        eval_every=2,
        lora={"rank": 4, "alpha": 8, "dropout": 0.0},
        algorithm_params={"self_weight": 0.5},
    )
    return values | overrides


def read_events(directory) -> EventAccumulator:
    events = EventAccumulator(str(directory), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def scalar_series(events: EventAccumulator, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in events.Scalars(tag)}


def expected_from_csv(metrics: pd.DataFrame) -> dict[str, dict[int, float]]:
    """The per-round aggregates, computed independently from metrics.csv with pandas."""
    out: dict[str, dict[int, float]] = {}
    loss = metrics[(metrics.split == "train") & (metrics.metric == "loss")].dropna(subset=["value"])
    out["train/loss"] = loss.groupby("round").value.mean().to_dict()
    # The `local` point only (`received` scores are logged under their own tags); the two points'
    # accuracies often coincide on this tiny run, their losses do not.
    scored = metrics[metrics.split.isin(["val", "test"]) & (metrics.eval_point == "local")].dropna(subset=["value"])
    for (split, metric), rows in scored.groupby(["split", "metric"]):
        out[f"{split}/{metric}_mean"] = rows.groupby("round").value.mean().to_dict()
        out[f"{split}/{metric}_worst"] = rows.groupby("round").value.min().to_dict()
        # The worst 10% of 5 clients is the single worst one.
        out[f"{split}/{metric}_bottom10"] = out[f"{split}/{metric}_worst"]
    comm = metrics[metrics.split == "comm"]
    for metric, rows in comm.groupby("metric"):
        out[f"comm/{metric}"] = rows.groupby("round").value.sum().to_dict()
    return out


def test_logged_scalars_equal_metrics_csv(tmp_path, demo_organamnist, split, tiny_vit_dir):
    board = tmp_path / "run" / "tensorboard"
    out = tmp_path / "run" / "metrics.csv"
    assert run_federation(run_config(), demo_organamnist, split, tiny_vit_dir, out, tracking_dir=board) == "completed"
    metrics = pd.read_csv(out)
    events = read_events(board)
    expected = expected_from_csv(metrics)
    assert set(expected) == {"train/loss", "comm/upload_bytes", "comm/download_bytes"} | {
        f"{s}/{m}_{a}"
        for s in ("val", "test")
        for m in ("accuracy", "balanced_accuracy", "macro_f1", "loss")
        for a in ("mean", "worst", "bottom10")
    }
    tags = set(events.Tags()["scalars"])
    assert set(expected) <= tags
    assert {"final/test/accuracy_mean", "final/test/accuracy_bottom10"} <= tags  # the end-of-run summary
    for tag, series in expected.items():
        logged = scalar_series(events, tag)
        assert sorted(logged) == sorted(series), tag  # losses and bytes every round; scores at rounds 2 and 4
        for step, value in series.items():
            assert logged[step] == pytest.approx(value, rel=1e-6), (tag, step)
    assert sorted(scalar_series(events, "val/accuracy_mean")) == [2, 4]
    assert sorted(scalar_series(events, "time/seconds_per_round")) == [1, 2, 3, 4]
    # Tagged with the run key and its config.
    texts = events.Tags()["tensors"]
    assert {"run/key/text_summary", "run/config/text_summary", "run/status/text_summary"} <= set(texts)
    key_text = events.Tensors("run/key/text_summary")[0].tensor_proto.string_val[0].decode()
    assert key_text == "organamnist/fhbench/epfl/default/seed3"
    config_text = events.Tensors("run/config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"self_weight": 0.5' in config_text and '"rounds": 4' in config_text
    provenance = events.Tensors("run/provenance/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"device": "cpu"' in provenance and f'"torch": "{torch.__version__}"' in provenance


def test_hparams_sit_beside_the_scalars(tmp_path, demo_organamnist, split, tiny_vit_dir):
    from tensorboard.plugins.hparams import plugin_data_pb2

    board = tmp_path / "tb"
    run_federation(
        run_config(algorithm="fedavg", algorithm_params={}, rounds=2),
        demo_organamnist,
        split,
        tiny_vit_dir,
        tmp_path / "metrics.csv",
        tracking_dir=board,
    )
    assert not [p for p in board.iterdir() if p.is_dir()], "hparams must not open a sub-run"
    events = read_events(board)
    session = events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    start = plugin_data_pb2.HParamsPluginData.FromString(session).session_start_info
    hparams = {k: (v.string_value or v.number_value) for k, v in start.hparams.items()}
    assert hparams["algorithm"] == "fedavg" and hparams["seed"] == 3 and hparams["lora.rank"] == 4
    assert hparams["status"] == "completed"


def test_off_by_default_and_per_run_under_the_run_folder(tmp_path, demo_organamnist, split, tiny_vit_dir):
    key = RunKey("organamnist", "fhbench", "epfl", "default", 0)
    assert tracking_dir({}, key) is None
    assert tracking_dir({"tracking": "none"}, key) is None
    assert tracking_dir({"tracking": "tensorboard"}, key) == f"{key.directory}/tensorboard"
    out = tmp_path / "metrics.csv"
    run_federation(run_config(rounds=1), demo_organamnist, split, tiny_vit_dir, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diagnostics.csv", "metrics.csv", "mixing.csv", "participation.csv", "run.json"]


def rows_of(round_values: dict[int, float]) -> list[tuple]:
    return [("d", "p", "a", "v", 0, r, c, "val", "accuracy", v + c / 10) for r, v in round_values.items() for c in range(2)]


def test_resumed_run_replaces_what_the_killed_attempt_logged(tmp_path):
    """A run killed after logging rounds 1-3 and resumed from its round-1 checkpoint shows each round once, the resumed values."""
    first = TensorBoardTracker(tmp_path, "k", {"rounds": 3})
    killed_rows = rows_of({1: 0.1, 2: 0.2, 3: 0.3})
    for r in (1, 2, 3):
        first.log_round(r, killed_rows, 1.0)
    first.close()
    resumed = TensorBoardTracker(tmp_path, "k", {"rounds": 3}, start_round=2)
    resumed_rows = rows_of({1: 0.1, 2: 0.5, 3: 0.6})
    for r in (2, 3):
        resumed.log_round(r, resumed_rows, 1.0)
    resumed.close()
    logged = scalar_series(read_events(tmp_path), "val/accuracy_mean")
    assert logged == pytest.approx({1: 0.15, 2: 0.55, 3: 0.65})
    # A run started again from round 1 (forced rerun) begins a fresh history.
    again = TensorBoardTracker(tmp_path, "k", {"rounds": 3})
    again.log_round(1, rows_of({1: 0.9}), 1.0)
    again.close()
    assert scalar_series(read_events(tmp_path), "val/accuracy_mean") == pytest.approx({1: 0.95})


def test_round_scalars_skip_empty_parts():
    rows = [
        ("d", "p", "a", "v", 0, 1, 0, "train", "loss", 2.0),
        ("d", "p", "a", "v", 0, 1, 1, "train", "loss", float("nan")),  # a client without training rows
        ("d", "p", "a", "v", 0, 2, 0, "train", "loss", 1.0),
        ("d", "p", "a", "v", 0, 2, 0, "val", "accuracy", 0.5),
        ("d", "p", "a", "v", 0, 2, 1, "val", "accuracy", float("nan")),  # an empty validation part
        ("d", "p", "a", "v", 0, 2, 2, "val", "accuracy", 0.25),
        ("d", "p", "a", "v", 0, 2, 0, "comm", "upload_bytes", 10.0),
        ("d", "p", "a", "v", 0, 2, 1, "comm", "upload_bytes", 30.0),
    ]
    assert len(rows[0]) == len(METRIC_COLUMNS)
    assert round_scalars(rows, 1) == {"train/loss": 2.0}
    got = round_scalars(rows, 2)
    assert got == {
        "train/loss": 1.0,
        "val/accuracy_mean": 0.375,
        "val/accuracy_worst": 0.25,
        "val/accuracy_bottom10": 0.25,
        "comm/upload_bytes": 40.0,
    }
    assert not any(math.isnan(v) for v in got.values())


def test_flat_hparams():
    assert flat_hparams({"a": 1, "lora": {"rank": 4}, "layers": [1, 2], "x": None}) == {
        "a": 1,
        "lora.rank": 4,
        "layers": "[1, 2]",
        "x": "null",
    }
