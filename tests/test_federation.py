"""The engine: repeatable from the seed, protocol rows, per-client state only what is trained."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fhbench.federation import Federation, RunConfig, run_federation
from fhbench.partition import partition_prepared


@pytest.fixture(scope="module")
def split(demo_organamnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("split") / "fhbench.json"
    partition_prepared(demo_organamnist, out, scheme="fhbench", n_clients=6, alpha=0.5, datapercent=1.0, seed=2025)
    return out


def config(algorithm="fedavg", seed=0, **overrides):
    values = dict(
        dataset="organamnist",
        partition="fhbench",
        algorithm=algorithm,
        seed=seed,
        backbone="vit_tiny",
        architecture="vit",
        rounds=3,
        lr=0.05,
        batch_size=16,
        eval_every=2,
        lora={"rank": 4, "alpha": 8, "dropout": 0.1},
    )
    values.update(overrides)
    return values


def run(tmp_path, name, demo_organamnist, split, tiny_vit_dir, **kw):
    out = tmp_path / name / "metrics.csv"
    status = run_federation(config(**kw), demo_organamnist, split, tiny_vit_dir, out)
    assert status == "completed"
    return out


@pytest.mark.parametrize("algorithm", ["fedavg", "epfl"])
def test_same_seed_same_metrics_different_seed_different(tmp_path, demo_organamnist, split, tiny_vit_dir, algorithm):
    a = run(tmp_path, "a", demo_organamnist, split, tiny_vit_dir, algorithm=algorithm, seed=0)
    b = run(tmp_path, "b", demo_organamnist, split, tiny_vit_dir, algorithm=algorithm, seed=0)
    c = run(tmp_path, "c", demo_organamnist, split, tiny_vit_dir, algorithm=algorithm, seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_metrics_are_tidy_and_follow_the_evaluation_protocol(tmp_path, demo_organamnist, split, tiny_vit_dir):
    metrics = pd.read_csv(run(tmp_path, "m", demo_organamnist, split, tiny_vit_dir, algorithm="epfl"))
    assert list(metrics.columns) == [
        "dataset",
        "partition",
        "algorithm",
        "variant",
        "seed",
        "round",
        "client",
        "split",
        "metric",
        "value",
        "eval_point",
    ]
    scored = metrics[metrics.split.isin(["val", "test"])]
    assert sorted(scored["round"].unique()) == [2, 3]  # every eval_every rounds, and the last
    assert set(scored.metric) == {"accuracy", "balanced_accuracy", "macro_f1", "loss"}
    losses = scored[scored.metric == "loss"]["value"]
    assert (losses > 0).all() and losses.notna().all()  # every client of this split has val and test rows
    # Each client's part sizes, once, as round-0 "data" rows (sample-weighted means read them).
    sizes = metrics[metrics.split == "data"].pivot_table(index="client", columns="metric", values="value")
    parts = json.loads(split.read_text())["clients"]
    for s in ("train", "val", "test"):
        assert sizes[f"n_{s}"].tolist() == [len(c[s]) for c in parts]
    assert set(metrics[metrics.split == "data"]["round"]) == {0}
    assert set(scored.eval_point) == {"local", "received"}
    assert scored.groupby(["round", "split", "eval_point"]).client.nunique().eq(6).all()
    assert metrics[~metrics.split.isin(["val", "test"])].eval_point.isna().all()
    comm = metrics[metrics.split == "comm"].pivot_table(index=["round", "client"], columns="metric", values="value")
    # EPFL uploads A and B, downloads only A: half of what it uploads (equal A and B sizes here).
    assert (comm["download_bytes"] * 2 == comm["upload_bytes"]).all()


def test_client_state_holds_only_trained_tensors(demo_organamnist, split, tiny_vit_dir):
    engine = Federation(RunConfig.from_dict(config()), demo_organamnist, split, tiny_vit_dir)
    model_params = dict(engine.shared.model.named_parameters())
    state = engine.states[0].params
    assert set(state) == {n for n, p in model_params.items() if p.requires_grad}
    assert all("lora_" in n or "classifier" in n for n in state)
    frozen = sum(p.numel() for p in model_params.values() if not p.requires_grad)
    assert sum(t.numel() for t in state.values()) < frozen / 5
    # The head is trained (modules_to_save), not left at its random initialisation.
    assert any("classifier" in n for n in state)


def test_missing_model_folder_names_the_fix(tmp_path, demo_organamnist, split):
    with pytest.raises(FileNotFoundError, match="fetch_model"):
        Federation(RunConfig.from_dict(config()), demo_organamnist, split, tmp_path / "nothing")


def test_client_without_training_rows_is_not_divergence(tmp_path, demo_organamnist, split, tiny_vit_dir):
    # Tiny clients can get no training row from the per-class 40/30/30 cut (int(0.4 * 1) = 0).
    import json

    data = json.loads(split.read_text())
    data["clients"][0]["val"] += data["clients"][0]["train"]
    data["clients"][0]["train"] = []
    empty = tmp_path / "split.json"
    empty.write_text(json.dumps(data))
    out = tmp_path / "metrics.csv"
    assert run_federation(config(), demo_organamnist, empty, tiny_vit_dir, out) == "completed"
    metrics = pd.read_csv(out)
    assert metrics[(metrics.client == 0) & (metrics.split == "test")].shape[0] > 0
