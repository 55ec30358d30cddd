"""EPFL aggregation: A replaced by the weighted average, B and head untouched; variants."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fhbench.algorithms.epfl import similarity_weights
from fhbench.config import load_config
from fhbench.federation import ClientRound
from fhbench.grid import RunKey, resolve_run_config
from tests.algorithms.conftest import make_federation, snapshot

REPO = Path(__file__).resolve().parents[2]


def aggregate(fed):
    uploads = [fed.algorithm.upload(i, s) for i, s in enumerate(fed.states)]
    messages = fed.algorithm.aggregate(uploads)
    for i, s in enumerate(fed.states):
        fed.algorithm.download(i, s, messages[i])


def trained(params=None, n=3):
    fed = make_federation("epfl", n_clients=n, params=params)
    for i, s in enumerate(fed.states):
        fed.algorithm.local_update(i, s, ClientRound(fed, i, 1))
    return fed


def test_a_becomes_weighted_average_b_and_head_untouched():
    fed = trained()
    info = fed.algorithm.info
    before = [snapshot(s.params) for s in fed.states]
    w = similarity_weights([[b[k] for k in info.lora_b] for b in before], self_weight=0.5)
    aggregate(fed)
    for i, s in enumerate(fed.states):
        for k in info.lora_a:
            torch.testing.assert_close(s.params[k], sum(w[i, j] * before[j][k] for j in range(3)))
        for k in info.lora_b + info.head:
            assert torch.equal(s.params[k], before[i][k])
    assert not torch.equal(fed.states[0].params[info.lora_a[0]], fed.states[1].params[info.lora_a[0]])  # personalised A


def test_share_b_mixes_b_only_and_uniform_needs_no_b_upload():
    fed = trained({"share": "B", "weights": "uniform", "self_weight": 0.5})
    info = fed.algorithm.info
    before = [snapshot(s.params) for s in fed.states]
    assert set(fed.algorithm.upload(0, fed.states[0])) == set(info.lora_b)
    aggregate(fed)
    for i, s in enumerate(fed.states):
        for k in info.lora_b:
            others = sum(before[j][k] for j in range(3) if j != i)
            torch.testing.assert_close(s.params[k], 0.5 * before[i][k] + 0.25 * others)
        for k in info.lora_a + info.head:
            assert torch.equal(s.params[k], before[i][k])


def test_identical_b_matrices_aggregate_to_finite_values():
    fed = make_federation("epfl", n_clients=4)  # before training every client's B is the same
    aggregate(fed)
    for s in fed.states:
        assert all(bool(torch.isfinite(v).all()) for v in s.params.values())


def test_rank_and_variant_settings_come_from_config():
    config = load_config(REPO / "config" / "config.yaml")
    config["variants"].update({"rank4": {"lora": {"rank": 4}}, "rank16": {"lora": {"rank": 16}}, "share_b": {"algorithm": {"share": "B"}}})
    for variant, rank in (("rank4", 4), ("default", config["backbones"]["vit_b16"]["lora"]["rank"]), ("rank16", 16)):
        resolved = resolve_run_config(config, RunKey("organamnist", "fhbench", "epfl", variant, 0))
        assert resolved["lora"]["rank"] == rank
    resolved = resolve_run_config(config, RunKey("organamnist", "fhbench", "epfl", "share_b", 0))
    assert resolved["algorithm_params"] == {**config["algorithms"]["epfl"], "share": "B"}


@pytest.mark.parametrize("rank", [1, 4])
def test_epfl_runs_at_any_rank(rank):
    fed = make_federation("epfl", rank=rank)
    assert fed.shared.trainable[fed.algorithm.info.lora_a[0]].shape[0] == rank
    assert fed.run() == "completed"
