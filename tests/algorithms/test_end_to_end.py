"""Every registered algorithm runs end to end on the tiny ViT and demo OrganAMNIST.

Through :func:`fhbench.federation.run_federation`, exactly as the workflow calls it: two rounds,
four clients, evaluation every round; the same seed twice gives identical metrics, and the
communication rows match what each algorithm is documented to send.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fhbench.algorithms import ALGORITHMS
from fhbench.federation import run_federation
from fhbench.partition import partition_prepared
from fhbench.reporting.tables import accuracy_table

N_CLIENTS = 4


@pytest.fixture(scope="module")
def split_path(demo_organamnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("split") / "iid.json"
    partition_prepared(demo_organamnist, out, scheme="iid", n_clients=N_CLIENTS, alpha=0.1, datapercent=1.0, seed=0)
    return out


def run_config(algorithm: str, seed: int = 0, **extra) -> dict:
    return dict(
        dataset="organamnist",
        partition="iid",
        algorithm=algorithm,
        seed=seed,
        backbone="vit_tiny",
        architecture="vit",
        rounds=2,
        lr=0.05,
        batch_size=16,
        eval_every=1,
        lora={"rank": 4, "alpha": 8, "dropout": 0.0},
        **extra,
    )


def run(tmp_path, name, config, demo_organamnist, split_path, tiny_vit_dir):
    out = tmp_path / name / "metrics.csv"
    status = run_federation(config, demo_organamnist, split_path, tiny_vit_dir, out)
    return status, pd.read_csv(out), json.loads((out.parent / "run.json").read_text())


# What each algorithm sends per client and round (docs/algorithms.md), up and down, in tensor
# groups: A, B = the LoRA matrices, H = the trained head. SCAFFOLD adds its control variate (the
# same size) both ways; APPLE downloads the other N - 1 = 3 clients' cores.
SENT = {
    "fedavg": ("ABH", "ABH"),
    "fedprox": ("ABH", "ABH"),
    "apfl": ("ABH", "ABH"),
    "fedala": ("ABH", "ABH"),
    "scaffold": ("ABH" * 2, "ABH" * 2),
    "apple": ("ABH", "ABH" * (N_CLIENTS - 1)),
    "epfl": ("AB", "A"),
    "fedsa_lora": ("A", "A"),
    "ffa_lora": ("BH", "BH"),
    "local": ("", ""),
    "centralized": ("", ""),
}


def documented_bytes(algorithm: str, model_dir) -> dict[str, set[int]]:
    """The bytes each client sends and receives every round, from a separately loaded, LoRA-wrapped
    tiny ViT (11 classes) and the table above; float32, 4 bytes a number."""
    from fhbench.models import LoraSpec, get_backbone, wrap_with_lora

    assert algorithm in SENT, f"{algorithm}: add what it sends to SENT (docs/algorithms.md)"
    backbone = get_backbone("vit")
    model = wrap_with_lora(backbone.load(model_dir, n_classes=11), backbone, LoraSpec(**run_config(algorithm)["lora"]))
    trained = [(n, p.numel()) for n, p in model.named_parameters() if p.requires_grad]
    size = {"A": 0, "B": 0, "H": 0}
    for name, count in trained:
        size["A" if "lora_A" in name else "B" if "lora_B" in name else "H"] += count
    up, down = (4 * sum(size[g] for g in groups) for groups in SENT[algorithm])
    return {"upload_bytes": {up}, "download_bytes": {down}}


def sent_bytes(comm: pd.DataFrame) -> dict[str, set[int]]:
    return {metric: set(rows["value"].astype(int)) for metric, rows in comm.groupby("metric")}


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS.builtin))
def test_two_rounds_end_to_end_and_repeatable(algorithm, tmp_path, demo_organamnist, split_path, tiny_vit_dir):
    status, first, info = run(tmp_path, "a", run_config(algorithm), demo_organamnist, split_path, tiny_vit_dir)
    assert status == "completed" and info["status"] == "completed"
    trained = first[first.split != "data"]  # round 0 holds only the part sizes
    assert set(trained["round"]) == {1, 2} and set(first["client"]) == set(range(N_CLIENTS))
    for split in ("val", "test"):
        got = first[first.split == split]
        assert set(got["metric"]) == {"accuracy", "balanced_accuracy", "macro_f1", "loss"}
        assert got[got.metric != "loss"]["value"].between(0, 1).all() and (got[got.metric == "loss"]["value"] > 0).all()
    assert first[first.split == "train"]["value"].notna().all()
    comm = first[first.split == "comm"]
    assert len(comm) == 2 * 2 * N_CLIENTS  # upload and download, per client and round
    assert sent_bytes(comm) == documented_bytes(algorithm, tiny_vit_dir)
    _, second, _ = run(tmp_path, "b", run_config(algorithm), demo_organamnist, split_path, tiny_vit_dir)
    pd.testing.assert_frame_equal(first, second)  # same seed, same metrics, bit for bit


@pytest.mark.slow
def test_huge_learning_rate_is_recorded_as_diverged(tmp_path, demo_organamnist, split_path, tiny_vit_dir):
    config = run_config("fedavg")
    config["lr"] = 1e38
    status, metrics, info = run(tmp_path, "nan", config, demo_organamnist, split_path, tiny_vit_dir)
    assert status == "diverged" and info["status"] == "diverged"
    stop = metrics[(metrics.split == "run") & (metrics.metric == "diverged")]
    assert len(stop) == 1 and stop["value"].iloc[0] == 1.0
    table = accuracy_table(metrics)
    assert table["n_diverged"].tolist() == [1]
