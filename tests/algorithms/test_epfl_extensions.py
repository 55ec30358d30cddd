"""EPFL beyond the paper: adaptive layer choice and shrunk weights, on hand-built B matrices."""

from __future__ import annotations

import math

import pytest
import torch

from fhbench.algorithms.epfl import (
    EPFL,
    SHRINK_SAMPLES,
    adaptive_distances,
    adaptive_layers,
    b_distances,
    layer_distances,
    layer_spread,
    shrinkage,
    shrunk_weights,
    similarity_weights,
    uniform_weights,
    weights_from_distances,
)
from fhbench.federation import ClientRound
from tests.algorithms.conftest import make_federation


def grouped_b(n_clients: int = 8, n_layers: int = 4, group_layer: int = 2, seed: int = 0) -> list[list[torch.Tensor]]:
    """Clients in two groups; only ``group_layer`` carries the groups (two centres, small noise).
    The other layers are isotropic noise ten times larger, so a rule reading raw distance sizes
    would prefer them."""
    g = torch.Generator().manual_seed(seed)
    centres = [torch.randn(16, 2, generator=g), torch.randn(16, 2, generator=g)]
    clients = []
    for c in range(n_clients):
        layers = [10.0 * torch.randn(16, 2, generator=g) for _ in range(n_layers)]
        layers[group_layer] = centres[c % 2] + 0.05 * torch.randn(16, 2, generator=g)
        clients.append(layers)
    return clients


def test_the_layer_that_carries_the_group_structure_is_chosen():
    b = grouped_b(group_layer=2)
    spread = layer_spread(layer_distances(b))
    assert int(spread.argmax()) == 2
    assert adaptive_layers(spread, count=1) == [2]
    assert 2 in adaptive_layers(spread)  # the default count: ⌈4/2⌉ = 2 layers
    # And wherever the group layer sits.
    for layer in (0, 3):
        assert adaptive_layers(layer_spread(layer_distances(grouped_b(group_layer=layer))), count=1) == [layer]


def test_adaptive_weights_find_the_groups_that_all_layers_blur():
    # The chosen half holds the group layer and one large noise layer: each enters divided by
    # its mean distance, so the noise cannot drown the groups.
    b = grouped_b(group_layer=1)
    same = torch.tensor([[i % 2 == j % 2 and i != j for j in range(8)] for i in range(8)])

    def within(weights: torch.Tensor) -> float:  # mean share of the off-diagonal weight inside the own group
        off = weights.double().clone()
        off.fill_diagonal_(0)
        return float(((off / off.sum(1, keepdim=True)) * same).sum(1).mean())

    uniform = 3 / 7  # 3 same-group peers among 7
    adaptive = within(similarity_weights(b, 0.5, layers="adaptive"))
    assert adaptive > within(similarity_weights(b, 0.5, layers="all")) and adaptive > uniform + 0.1


def test_spread_is_the_coefficient_of_variation_of_pairwise_distances_by_hand():
    # Three clients, one 1-element layer: B = 0, 1, 3 → distances 1, 3, 2: mean 2, std √(2/3).
    b = [[torch.tensor([0.0]), torch.tensor([5.0])], [torch.tensor([1.0]), torch.tensor([5.0])], [torch.tensor([3.0]), torch.tensor([5.0])]]
    spread = layer_spread(layer_distances(b))
    assert spread[0].item() == pytest.approx(math.sqrt(2 / 3) / 2)
    assert spread[1].item() == 0.0  # identical B everywhere: no distance, no separation


def test_the_choice_is_bounded_and_breaks_ties_by_model_order():
    assert adaptive_layers(torch.zeros(5)) == [0, 1, 2]  # ⌈5/2⌉, all tied: the earliest
    assert adaptive_layers(torch.tensor([0.1, 0.3, 0.3, 0.2])) == [1, 2]
    assert adaptive_layers(torch.tensor([0.7])) == [0]  # a one-layer model
    with pytest.raises(ValueError, match="count"):
        adaptive_layers(torch.zeros(3), count=4)
    # Two clients have one pair: every layer's spread is 0, so the first half is used.
    two = [[torch.ones(2), torch.zeros(2)], [torch.zeros(2), torch.ones(2)]]
    distance, spread, chosen = adaptive_distances(two)
    assert chosen == [0] and spread.tolist() == [0.0, 0.0]
    assert distance[0, 1].item() == pytest.approx(1.0)  # √2, divided by the layer's mean distance √2


def test_shrinkage_by_hand():
    s = shrinkage([0, 1, 32, 1000], prior_samples=32.0)
    assert s.tolist() == pytest.approx([1.0, 32 / 33, 0.5, 32 / 1032])
    with pytest.raises(ValueError, match="prior_samples"):
        shrinkage([1], prior_samples=0.0)


def test_a_one_sample_clients_weights_are_closer_to_uniform_than_a_thousand_sample_clients():
    # Four clients on a line: clients 0 and 1 see mirror images of each other's distances
    # (0→1: 1, 0→2: 0.2, 0→3: 0.8; 1→0: 1, 1→3: 0.2, 1→2: 0.8), so their similarity rows are
    # equally far from uniform; only their training-set sizes differ.
    b = [[torch.tensor([x])] for x in (0.0, 1.0, 0.2, 0.8)]
    lam = 0.5
    similarity = similarity_weights(b, self_weight=lam)
    uniform = uniform_weights(4, lam)
    gap = (similarity - uniform).abs().sum(1)
    assert gap[0].item() == pytest.approx(gap[1].item())
    sizes = [1, 1000, 500, 500]
    shrunk = shrunk_weights(similarity, shrinkage(sizes, 32.0), lam)
    to_uniform = (shrunk - uniform).abs().sum(1)
    assert to_uniform[0] < to_uniform[1]
    assert to_uniform[0].item() == pytest.approx(gap[0].item() / 33, rel=1e-5)  # (1 − s) = 1/33 of the gap remains
    # Still EPFL's form: self weight λ, rows summing to 1.
    assert torch.allclose(shrunk.diagonal(), torch.full((4,), lam))
    assert torch.allclose(shrunk.sum(1), torch.ones(4))
    # Neither cut off nor left to one neighbour: the small client's largest peer share falls,
    # its smallest rises, toward (1 − λ)/3.
    peers = [1, 2, 3]
    assert shrunk[0, peers].max() < similarity[0, peers].max() and shrunk[0, peers].min() > similarity[0, peers].min()
    assert shrunk[0, peers].min() >= (32 / 33) * (1 - lam) / 3 - 1e-7


def test_shrunk_weights_of_a_large_federation_stay_close_to_similarity():
    distance = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 4.0], [2.0, 4.0, 0.0]], dtype=torch.float64)
    similarity = weights_from_distances(distance, 0.5)
    shrunk = shrunk_weights(similarity, shrinkage([10**6] * 3, 32.0), 0.5)
    assert torch.allclose(shrunk, similarity, atol=1e-4)


def trained(params: dict, n: int = 4, n_train: int = 12) -> object:
    fed = make_federation("epfl", n_clients=n, params=params, n_train=n_train)
    for i, s in enumerate(fed.states):
        fed.algorithm.local_update(i, s, ClientRound(fed, i, 1))
    return fed


def test_shrunk_epfl_uploads_b_and_records_each_clients_shrinkage():
    fed = trained({"weights": "shrunk"})
    info = fed.algorithm.info
    uploads = [fed.algorithm.upload(i, s) for i, s in enumerate(fed.states)]
    assert set(info.lora_b) <= set(uploads[0])
    weights = fed.algorithm.mixing_matrix(uploads)
    matrices = fed.algorithm.server_matrices()
    expected = shrinkage(info.train_sizes, SHRINK_SAMPLES)
    assert torch.allclose(matrices["shrinkage"], expected)
    similarity = similarity_weights([[u[k] for k in info.lora_b] for u in uploads], 0.5)
    assert torch.allclose(weights, shrunk_weights(similarity, expected, 0.5))


def test_adaptive_epfl_records_the_chosen_layers():
    fed = trained({"layers": "adaptive"})
    info = fed.algorithm.info
    uploads = [fed.algorithm.upload(i, s) for i, s in enumerate(fed.states)]
    fed.algorithm.mixing_matrix(uploads)
    matrices = fed.algorithm.server_matrices()
    b = [[u[k] for k in info.lora_b] for u in uploads]
    _, spread, chosen = adaptive_distances(b)
    assert matrices["layer_chosen"].nonzero().flatten().tolist() == chosen
    assert len(chosen) == math.ceil(len(info.lora_b) / 2)
    assert torch.equal(matrices["layer_spread"], spread)
    assert torch.allclose(matrices["mixing"], similarity_weights(b, 0.5, layers="adaptive"))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"layers": "adaptiv"}, "layers must be one of"),
        ({"weights": "shrink"}, "weights must be one of"),
    ],
)
def test_bad_values_are_refused_naming_the_hyperparameter(params, message):
    with pytest.raises(ValueError, match=message):
        EPFL(**params)


def test_the_tuning_space_keeps_the_papers_layer_choices():
    assert EPFL.search_space["layers"].choices == ("all", "first_half", "second_half")


def test_with_absent_clients_the_rules_run_over_the_returned_only():
    import dataclasses

    import numpy as np

    from fhbench.participation import RoundPlan

    fed = make_federation(
        "epfl", n_clients=4, params={"weights": "shrunk", "layers": "adaptive"}, participation={"count": 3, "dropout": 0.5}
    )
    fed.algorithm.info = dataclasses.replace(fed.algorithm.info, train_sizes=(12, 12, 36, 12))
    fed.participation.plan = lambda r: RoundPlan(1, (0, 1, 2), (0, 2))
    fed.run_round(1)
    matrices = fed.algorithm.server_matrices()
    shrink = matrices["shrinkage"].numpy()
    assert np.isnan(shrink[[1, 3]]).all()
    np.testing.assert_allclose(shrink[[0, 2]], [32 / 44, 32 / 68])
    assert matrices["layer_chosen"].sum().item() == math.ceil(len(fed.algorithm.info.lora_b) / 2)  # per layer, not per client


def test_spread_with_fewer_than_two_clients_is_zero_per_layer():
    """One client has no pair to compare: every layer's spread is 0, one float64 value per layer
    as with more clients."""
    one = [[torch.ones(2), torch.zeros(3), torch.ones(1)]]
    spread = layer_spread(layer_distances(one))
    assert spread.dtype == torch.float64 and spread.tolist() == [0.0, 0.0, 0.0]
    three = [[torch.full((2,), float(c)), torch.zeros(3), torch.ones(1)] for c in (0, 1, 3)]
    assert layer_spread(layer_distances(three)).dtype == torch.float64


def test_spread_does_not_depend_on_the_scale_of_the_distances():
    """A coefficient of variation is scale-free: B matrices 100 times closer (distances 0.01, 0.03,
    0.02, all below 1) give the spread of the by-hand case above, √(2/3) / 2."""
    b = [[torch.tensor([0.01 * x], dtype=torch.float64)] for x in (0.0, 1.0, 3.0)]
    assert layer_spread(layer_distances(b))[0].item() == pytest.approx(math.sqrt(2 / 3) / 2)


def test_each_chosen_layer_enters_divided_by_its_mean_distance_also_below_one():
    """Layer 0 separates the clients (distances 0.01, 0.03, 0.02; mean 0.02), layer 1 is the same
    everywhere (spread 0): ⌈2/2⌉ = 1 layer is chosen, layer 0, and its distances enter divided by
    their mean: 0.5, 1.5, 1.0."""
    b = [[torch.tensor([0.01 * x], dtype=torch.float64), torch.tensor([0.0])] for x in (0.0, 1.0, 3.0)]
    distance, _, chosen = adaptive_distances(b)
    assert chosen == [0]
    expected = torch.tensor([[0.0, 0.5, 1.5], [0.5, 0.0, 1.0], [1.5, 1.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(distance, expected)


def test_a_chosen_layer_where_every_client_holds_the_same_b_gives_zero_distances():
    """Two clients have one pair, so every spread is 0 and the first layer is chosen; there both
    clients hold the same B. Its distances stay 0 (not 0/0), and EPFL's rule for d_ij = 0 then
    shares the off-diagonal weight equally."""
    two = [[torch.zeros(2), torch.ones(2)], [torch.zeros(2), torch.zeros(2)]]
    distance, _, chosen = adaptive_distances(two)
    assert chosen == [0] and torch.equal(distance, torch.zeros(2, 2, dtype=torch.float64))
    assert torch.equal(similarity_weights(two, 0.5, layers="adaptive"), torch.full((2, 2), 0.5))


def test_shrinkage_with_a_prior_below_one_sample():
    """n₀ need only be positive: s_i = n₀ / (n₀ + n_i) holds for n₀ = 0.5 too."""
    assert shrinkage([0, 1, 3], prior_samples=0.5).tolist() == pytest.approx([1.0, 1 / 3, 1 / 7])


def test_shrinkage_is_computed_in_float64():
    """s_i in float64, as documented (recorded as such in mixing.csv): n₀ / (n₀ + n_i) to the last bit."""
    s = shrinkage([7, 100], prior_samples=32.0)
    assert s.dtype == torch.float64 and s.tolist() == [32 / 39, 32 / 132]


def test_shrinkage_refuses_negative_sizes():
    with pytest.raises(ValueError, match="non-negative"):
        shrinkage([3, -1], prior_samples=32.0)


def test_shrinking_keeps_the_self_weight_of_the_matrix_it_shrinks():
    """Similarity and uniform weights both give client i weight λ, so their mix keeps λ on the
    diagonal and rows summing to 1, for any λ; the defaults of both functions are λ = 0.5."""
    b = [[torch.tensor([x])] for x in (0.0, 1.0, 0.2, 0.8)]
    s = shrinkage([1, 10, 100, 1000], 32.0)
    for lam in (0.3, 0.8):
        shrunk = shrunk_weights(similarity_weights(b, self_weight=lam), s, lam)
        assert torch.allclose(shrunk.diagonal(), torch.full((4,), lam)) and torch.allclose(shrunk.sum(1), torch.ones(4))
    shrunk = shrunk_weights(similarity_weights(b), s)
    assert torch.allclose(shrunk.diagonal(), torch.full((4,), 0.5)) and torch.allclose(shrunk.sum(1), torch.ones(4))


def test_shrunk_weights_depend_on_the_shrinkage_values_not_their_dtype():
    """The same s_i given in float32 or float64 give the same matrix: the mix is computed in
    float64 from the values of s and rounded to float32 once."""
    b = [[torch.tensor([x])] for x in (0.0, 1.0, 0.2, 0.8, 0.45, 0.9)]
    similarity = similarity_weights(b, self_weight=0.3)
    s = torch.tensor([0.1, 1 / 3, 0.7, 0.9, 0.05, 0.6], dtype=torch.float32)
    assert torch.equal(shrunk_weights(similarity, s, 0.3), shrunk_weights(similarity, s.double(), 0.3))


def test_shrunk_epfl_keeps_its_self_weight_and_records_the_b_distances():
    """EPFL with weights="shrunk" and λ = 0.3: the mixing matrix keeps 0.3 on the diagonal, and the
    server records the B distances it came from beside the mix and the shrinkage."""
    fed = trained({"weights": "shrunk", "self_weight": 0.3})
    info = fed.algorithm.info
    uploads = [fed.algorithm.upload(i, s) for i, s in enumerate(fed.states)]
    weights = fed.algorithm.mixing_matrix(uploads)
    assert torch.allclose(weights.diagonal(), torch.full((4,), 0.3)) and torch.allclose(weights.sum(1), torch.ones(4))
    matrices = fed.algorithm.server_matrices()
    assert set(matrices) == {"mixing", "b_distance", "shrinkage"}
    torch.testing.assert_close(matrices["b_distance"], b_distances([[u[k] for k in info.lora_b] for u in uploads]))
