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


def test_configured_self_weight_and_layers_set_the_weights_by_hand():
    # self_weight 0.3 and first_half (the tiny net's first of two B tensors): the distances, the
    # weights and the mixed A computed here from the trained B matrices, not by similarity_weights.
    fed = trained({"self_weight": 0.3, "layers": "first_half"})
    info = fed.algorithm.info
    before = [snapshot(s.params) for s in fed.states]
    assert fed.algorithm.server_matrices() == {}  # nothing aggregated yet
    first_b = info.lora_b[0]
    d = torch.tensor([[float(torch.linalg.norm((before[i][first_b] - before[j][first_b]).double())) for j in range(3)] for i in range(3)])
    w = torch.zeros(3, 3)
    for i in range(3):
        others = [j for j in range(3) if j != i]
        inverse = 1 / d[i, others]
        w[i, others] = 0.7 * inverse / inverse.sum()
        w[i, i] = 0.3
    aggregate(fed)
    matrices = fed.algorithm.server_matrices()
    assert set(matrices) == {"mixing", "b_distance"}
    torch.testing.assert_close(matrices["b_distance"], d.double())
    torch.testing.assert_close(matrices["mixing"], w)
    for i, s in enumerate(fed.states):
        for k in info.lora_a:
            torch.testing.assert_close(s.params[k], sum(w[i, j] * before[j][k] for j in range(3)), rtol=1e-5, atol=1e-6)


def test_share_ab_mixes_both_and_uniform_uploads_only_what_it_shares():
    fed = trained({"share": "AB", "weights": "uniform", "self_weight": 0.5})
    info = fed.algorithm.info
    before = [snapshot(s.params) for s in fed.states]
    assert set(fed.algorithm.upload(0, fed.states[0])) == set(info.lora_a + info.lora_b)
    assert set(trained({"weights": "uniform"}).algorithm.upload(0, fed.states[0])) == set(info.lora_a)  # no B for distances
    aggregate(fed)
    assert set(fed.algorithm.server_matrices()) == {"mixing"}
    for i, s in enumerate(fed.states):
        for k in info.lora_a + info.lora_b:
            others = sum(before[j][k] for j in range(3) if j != i)
            torch.testing.assert_close(s.params[k], 0.5 * before[i][k] + 0.25 * others)


@pytest.mark.parametrize("weights", ["similarity", "uniform"])
def test_a_single_client_keeps_its_own_adapter(weights):
    fed = trained({"weights": weights}, n=1)
    before = snapshot(fed.states[0].params)
    aggregate(fed)
    matrices = fed.algorithm.server_matrices()
    assert torch.equal(matrices["mixing"], torch.ones(1, 1))
    if weights == "similarity":
        assert torch.equal(matrices["b_distance"], torch.zeros(1, 1, dtype=torch.float64)) and matrices["b_distance"].dtype == torch.float64
    for k, v in before.items():
        assert torch.equal(fed.states[0].params[k], v)


def test_layer_halves_of_a_one_layer_model_are_the_whole_model():
    from fhbench.algorithms.epfl import select_layers

    one, two = [torch.ones(1)], [torch.ones(1), torch.zeros(1)]
    assert select_layers(one, "first_half") == one and select_layers(one, "second_half") == one
    assert select_layers(two, "first_half") == two[:1] and select_layers(two, "second_half") == two[1:]


@pytest.mark.parametrize("self_weight,ok", [(0.0, True), (1.0, True), (1.5, False), (-0.5, False)])
def test_self_weight_must_lie_in_the_unit_interval(self_weight, ok):
    b = [[torch.zeros(2, 2)], [torch.ones(2, 2)]]
    if ok:
        assert similarity_weights(b, self_weight=self_weight)[0, 0] == self_weight
    else:
        with pytest.raises(ValueError, match="self_weight"):
            similarity_weights(b, self_weight=self_weight)
