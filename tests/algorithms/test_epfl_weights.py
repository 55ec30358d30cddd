"""EPFL's public mixing-matrix function (docs/protocol.md §5)."""

import torch

from fhbench.algorithms.epfl import similarity_weights


def test_weights_follow_inverse_distance_with_self_weight():
    # Three clients, one B tensor each: distances d01 = 1, d02 = 2, d12 = 1.
    b = [[torch.tensor([[0.0]])], [torch.tensor([[1.0]])], [torch.tensor([[2.0]])]]
    w = similarity_weights(b, self_weight=0.5)
    assert torch.allclose(w.diagonal(), torch.full((3,), 0.5))
    # Client 0: s01 = 1, s02 = 1/2 → normalised 2/3, 1/3, scaled by 0.5.
    assert torch.allclose(w[0], torch.tensor([0.5, 1 / 3, 1 / 6]))
    assert torch.allclose(w[1], torch.tensor([0.25, 0.5, 0.25]))
    assert torch.allclose(w.sum(1), torch.ones(3))


def test_distance_is_the_mean_frobenius_norm_over_selected_layers():
    b0 = [torch.zeros(2, 2), torch.zeros(2, 2)]
    b1 = [torch.ones(2, 2), torch.zeros(2, 2)]  # layer distances 2 and 0
    b2 = [torch.zeros(2, 2), 3 * torch.ones(2, 2)]  # from b0: 0 and 6
    w_all = similarity_weights([b0, b1, b2], self_weight=0.0, layers="all")
    assert torch.allclose(w_all[0], torch.tensor([0.0, 0.75, 0.25]))  # 1/1 vs 1/3
    w_first = similarity_weights([b0, b1, b2], self_weight=0.0, layers="first_half")
    assert torch.allclose(w_first[0, 1:], torch.tensor([0.0, 1.0]))  # b2 equals b0 on layer 1
    w_second = similarity_weights([b0, b1, b2], self_weight=0.0, layers="second_half")
    assert torch.allclose(w_second[0, 1:], torch.tensor([1.0, 0.0]))


def test_identical_b_matrices_do_not_divide_by_zero():
    same = [[torch.ones(4, 2)] for _ in range(4)]
    w = similarity_weights(same, self_weight=0.5)
    assert torch.isfinite(w).all()
    assert torch.allclose(w, torch.tensor([[0.5 if i == j else 0.5 / 3 for j in range(4)] for i in range(4)]))
    # A pair of identical clients among different ones: the twin takes the whole neighbour share.
    mixed = [[torch.zeros(1)], [torch.zeros(1)], [torch.ones(1)]]
    w = similarity_weights(mixed, self_weight=0.5)
    assert torch.allclose(w[0], torch.tensor([0.5, 0.5, 0.0]))
    assert torch.isfinite(w).all()


def test_single_client_keeps_itself():
    assert similarity_weights([[torch.ones(2)]]).tolist() == [[1.0]]


def test_defaults_are_all_layers_and_self_weight_one_half():
    from fhbench.algorithms.epfl import b_distances, uniform_weights, weights_from_distances

    b = [[torch.zeros(2, 2), torch.zeros(2, 2)], [torch.ones(2, 2), torch.zeros(2, 2)], [torch.zeros(2, 2), torch.ones(2, 2)]]
    d = b_distances(b)
    assert torch.equal(d, b_distances(b, "all")) and not torch.equal(d, b_distances(b, "first_half"))
    assert d.dtype == torch.float64 and d[0, 1] == 1.0  # mean of ‖1‖_F = 2 and 0 over the two layers
    assert torch.equal(torch.diagonal(weights_from_distances(d)), torch.full((3,), 0.5))
    assert torch.equal(torch.diagonal(uniform_weights(3)), torch.full((3,), 0.5))
