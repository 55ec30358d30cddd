"""EPFL's weights as data: tidy rows, concentration numbers and the heatmap, from hand-made matrices."""

from __future__ import annotations

import numpy as np
import pytest

from fhbench.mixing import client_order, client_relations, concentration, matrix_at, matrix_rows, mixing_frame, off_diagonal_shares
from fhbench.reporting.figures import plot_mixing_figure as plot_mixing
from fhbench.reporting.tables import load_metrics

KEYS = ("ds", "p", "epfl", "default", 0)


def frame_for(weights: np.ndarray, labels: list[np.ndarray], groups=None):
    rows = matrix_rows(KEYS, 0, client_relations(labels, groups))
    rows += matrix_rows(KEYS, 2, {"mixing": weights, "b_distance": 1.0 - weights})
    return mixing_frame(rows)


def test_client_relations_by_hand():
    labels = [np.array([0, 0, 1]), np.array([0, 0, 1]), np.array([2, 2, 2])]
    rel = client_relations(labels, [0, 0, 1])
    assert rel["label_distance"][0, 1] == 0.0 and rel["label_distance"][0, 2] == pytest.approx(1.0)
    assert list(rel["dominant_class"]) == [0, 0, 2]
    assert list(rel["planted_group"]) == [0, 0, 1]


def test_rows_round_trip_and_per_client_values_sit_on_the_diagonal():
    w = np.array([[0.5, 0.3, 0.2], [0.25, 0.5, 0.25], [0.1, 0.4, 0.5]])
    frame = frame_for(w, [np.array([0]), np.array([1]), np.array([1, 1])])
    np.testing.assert_array_equal(matrix_at(frame, "mixing"), w)
    dominant = frame[frame.matrix == "dominant_class"]
    assert (dominant.i == dominant.j).all() and list(dominant.value) == [0, 1, 1]


def test_concentration_against_uniform_by_hand():
    # 4 clients, 2 planted groups {0, 1} and {2, 3}; each client gives 0.3 of its 0.5 off-diagonal
    # weight to its group mate: within-group share 0.6 against uniform 1/3.
    w = np.array([[0.5, 0.3, 0.1, 0.1], [0.3, 0.5, 0.1, 0.1], [0.1, 0.1, 0.5, 0.3], [0.1, 0.1, 0.3, 0.5]])
    labels = [np.array([0, 0]), np.array([0, 0]), np.array([1, 1]), np.array([1, 1])]
    stats = concentration(frame_for(w, labels, [0, 0, 1, 1]), k=1)
    assert stats["within_share"] == pytest.approx(0.6) and stats["within_uniform"] == pytest.approx(1 / 3)
    assert stats["nearest_share"] == pytest.approx(0.6) and stats["nearest_uniform"] == pytest.approx(1 / 3)
    assert stats["top_share"] == pytest.approx(0.6)
    # Uniform weights: the nearest clients get exactly the uniform share.
    u = np.full((4, 4), 0.5 / 3)
    np.fill_diagonal(u, 0.5)
    flat = concentration(frame_for(u, labels), k=2)
    assert flat["nearest_share"] == pytest.approx(flat["nearest_uniform"]) and "within_share" not in flat


def test_heatmap_orders_clients_by_dominant_class():
    w = np.eye(3) * 0.5 + 0.25 * (1 - np.eye(3))
    frame = frame_for(w, [np.array([2]), np.array([0]), np.array([1])])
    assert list(client_order(frame)) == [1, 2, 0]
    fig = plot_mixing(frame, title="weights")
    assert len([ax for ax in fig.axes if ax.get_visible() and ax.images]) == 1
    # An asymmetric matrix, so that the order shows in the picture: each row's off-diagonal share
    # by hand (row 0 gives 0.4 of its 0.5 to client 1: 0.8), rows and columns in the order 1, 2, 0.
    w = np.array([[0.5, 0.4, 0.1], [0.2, 0.5, 0.3], [0.05, 0.45, 0.5]])
    ax = next(ax for ax in plot_mixing(frame_for(w, [np.array([2]), np.array([0]), np.array([1])])).axes if ax.images)
    expected = np.array([[np.nan, 0.6, 0.4], [0.9, np.nan, 0.1], [0.8, 0.2, np.nan]])
    np.testing.assert_allclose(np.ma.filled(ax.images[0].get_array(), np.nan), expected)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c0", "c1", "c2"]


def test_concentration_reads_the_last_round_and_clamps_k_by_hand():
    # Four clients in two label pairs {0, 1} and {2, 3}. Round 2 is uniform; round 4 (the last)
    # is peaked; client 3 keeps all its weight (its off-diagonal shares are 0, not NaN).
    labels = [np.array([0, 0]), np.array([0, 0]), np.array([1, 1]), np.array([1, 1])]
    uniform = np.full((4, 4), 0.5 / 3)
    np.fill_diagonal(uniform, 0.5)
    last = np.array([[0.5, 0.3, 0.15, 0.05], [0.1, 0.5, 0.2, 0.2], [0.05, 0.05, 0.5, 0.4], [0.0, 0.0, 0.0, 1.0]])
    rows = matrix_rows(KEYS, 0, client_relations(labels, [0, 0, 1, 1]))
    rows += matrix_rows(KEYS, 2, {"mixing": uniform}) + matrix_rows(KEYS, 4, {"mixing": last})
    frame = mixing_frame(rows)
    np.testing.assert_array_equal(matrix_at(frame, "mixing"), last)
    np.testing.assert_array_equal(matrix_at(frame, "mixing", 2), uniform)
    # Off-diagonal shares by hand: row 0 0.6/0.3/0.1, row 1 0.2/0.4/0.4, row 2 0.1/0.1/0.8, row 3 zeros.
    np.testing.assert_allclose(
        off_diagonal_shares(last), [[0, 0.6, 0.3, 0.1], [0.2, 0, 0.4, 0.4], [0.1, 0.1, 0, 0.8], [0, 0, 0, 0]], atol=1e-12
    )
    stats = concentration(frame, k=1)
    assert stats["n_clients"] == 4 and stats["k"] == 1 and stats["nearest_uniform"] == pytest.approx(1 / 3)
    assert stats["nearest_share"] == pytest.approx((0.6 + 0.2 + 0.8 + 0) / 4)  # each client's label mate
    assert stats["within_share"] == pytest.approx((0.6 + 0.2 + 0.8 + 0) / 4) and stats["within_uniform"] == pytest.approx(1 / 3)
    assert concentration(frame, k=2)["top_share"] == pytest.approx((0.9 + 0.8 + 0.9 + 0) / 4)  # the two largest shares
    wide = concentration(frame, k=10)  # more than N - 1 = 3: all others
    assert wide["k"] == 3 and wide["nearest_uniform"] == 1.0 and wide["nearest_share"] == pytest.approx(3 / 4)
    assert concentration(frame, k=2, round_=2)["top_share"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="at least two clients"):
        concentration(mixing_frame(matrix_rows(KEYS, 0, client_relations(labels[:1])) + matrix_rows(KEYS, 1, {"mixing": np.ones((1, 1))})))


def test_adaptive_layer_choice_is_on_file_for_every_round_and_the_rest_at_evaluation_rounds():
    from fhbench.algorithms.epfl import adaptive_distances
    from fhbench.mixing import layer_choices
    from tests.algorithms.conftest import make_federation

    fed = make_federation("epfl", n_clients=4, rounds=3, eval_every=2, params={"layers": "adaptive", "weights": "shrunk"})
    fed.run()
    frame = fed.server_frame()
    layers = layer_choices(frame)
    n_layers = len(fed.algorithm.info.lora_b)
    assert sorted(layers["round"].unique()) == [1, 2, 3]  # every round, though only 2 and 3 are evaluated
    assert (layers.groupby("round")["chosen"].sum() == -(-n_layers // 2)).all()
    assert sorted(frame[frame.matrix == "mixing"]["round"].unique()) == [2, 3]
    shrink = frame[frame.matrix == "shrinkage"]
    assert sorted(shrink["round"].unique()) == [2, 3] and (shrink.i == shrink.j).all()
    # The last round's record is the rule applied to the B matrices the clients uploaded then.
    b = [[s.params[k] for k in fed.algorithm.info.lora_b] for s in fed.states]
    _, spread, chosen = adaptive_distances(b)
    last = layers[layers["round"] == 3]
    assert last[last.chosen]["layer"].tolist() == chosen
    np.testing.assert_allclose(last["spread"], spread.numpy(), rtol=1e-12)
    # Without the adaptive rule nothing is written between evaluation rounds.
    plain = make_federation("epfl", n_clients=4, rounds=3, eval_every=2)
    plain.run()
    assert layer_choices(plain.server_frame()).empty
    assert sorted(plain.server_frame()["round"].unique()) == [0, 2, 3]


def test_client_relations_of_clients_without_training_labels():
    # A client with no training rows (possible on tiny splits) has no dominant class (-1); its
    # labels may come as an empty float array (numpy's default dtype), which still counts as none.
    rel = client_relations([np.array([1, 1, 0]), np.array([])])
    assert rel["dominant_class"].tolist() == [1, -1]
    # Nobody has labels at all: every client -1, and all label distributions alike (distance 0).
    rel = client_relations([np.array([]), np.array([], dtype=np.int64)])
    assert rel["dominant_class"].tolist() == [-1, -1]
    np.testing.assert_array_equal(rel["label_distance"], np.zeros((2, 2)))


def test_label_distance_of_one_sample_clients_by_hand():
    # Total-variation distance of the label distributions: one sample of class 0 against one of
    # class 1 is 1 (disjoint), and each against a half-half client is 0.5.
    rel = client_relations([np.array([0]), np.array([1]), np.array([0, 1])])
    np.testing.assert_allclose(rel["label_distance"], [[0, 1, 0.5], [1, 0, 0.5], [0.5, 0.5, 0]])


def test_matrix_rows_read_tensors_that_carry_autograd_history():
    # The server's matrices may be computed from tensors that require gradients: the rows hold
    # their values (exactly representable here), matrix row-major, a 1-D tensor on the diagonal.
    import torch

    w = torch.tensor([[0.5, 0.5], [0.25, 0.75]], requires_grad=True)
    rows = matrix_rows(("k",), 3, {"mixing": w * 1.0, "shrinkage": torch.tensor([0.25, 0.75], requires_grad=True)})
    assert rows == [
        ("k", 3, "mixing", 0, 0, 0.5),
        ("k", 3, "mixing", 0, 1, 0.5),
        ("k", 3, "mixing", 1, 0, 0.25),
        ("k", 3, "mixing", 1, 1, 0.75),
        ("k", 3, "shrinkage", 0, 0, 0.25),
        ("k", 3, "shrinkage", 1, 1, 0.75),
    ]


def test_matrix_rows_write_every_entry_of_a_rectangular_matrix():
    # One row per entry (i = row, j = column), whatever the shape: 3 x 2 gives 6 rows.
    values = np.arange(6.0).reshape(3, 2)
    rows = matrix_rows(("k",), 1, {"m": values})
    assert rows == [("k", 1, "m", i, j, 2.0 * i + j) for i in range(3) for j in range(2)]


def test_off_diagonal_shares_of_integer_weights_by_hand():
    # Counts (integers) are normalised as floats: row 0 gives 1 and 3 of its 4 off-diagonal
    # units to clients 1 and 2, row 1 splits evenly, row 2 keeps everything (zeros, not NaN).
    shares = off_diagonal_shares(np.array([[5, 1, 3], [2, 0, 2], [0, 0, 7]]))
    np.testing.assert_allclose(shares, [[0, 0.25, 0.75], [0.5, 0, 0.5], [0, 0, 0]])


def test_concentration_default_is_the_three_nearest_and_most_weighted():
    # REPORT.md's planted finding and the heatmap titles call concentration(run) without k: three
    # clients. Five clients, each giving its off-diagonal half as 0.4/0.3/0.2/0.1 of it to the
    # next four clients in turn: the three largest shares sum to 0.9 in every row.
    n, w = 5, np.eye(5) * 0.5
    for i in range(n):
        for step, share in enumerate([0.4, 0.3, 0.2, 0.1], start=1):
            w[i, (i + step) % n] = 0.5 * share
    stats = concentration(frame_for(w, [np.array([c]) for c in range(n)]))
    assert stats["k"] == 3 and stats["nearest_uniform"] == pytest.approx(3 / 4)
    assert stats["top_share"] == pytest.approx(0.9)


def test_client_order_puts_planted_groups_before_dominant_classes():
    # Groups 1, 0, 1, 0 and dominant classes 0, 2, 1, 0: group 0 first (client 3 of class 0, then
    # client 1 of class 2), then group 1 (client 0 of class 0, then client 2 of class 1).
    labels = [np.array([0]), np.array([2]), np.array([1]), np.array([0])]
    frame = frame_for(np.full((4, 4), 0.25), labels, [1, 0, 1, 0])
    assert client_order(frame).tolist() == [3, 1, 0, 2]


def test_client_order_needs_only_one_of_the_client_facts_and_the_weights():
    # Rows without the per-client facts (no dominant class recorded): index order, N from the
    # weights. Rows with the facts but no weights yet (a run stopped before its first
    # evaluation): ordered by dominant class, then index.
    weights_only = mixing_frame(matrix_rows(KEYS, 2, {"mixing": np.full((3, 3), 1 / 3)}))
    assert client_order(weights_only).tolist() == [0, 1, 2]
    facts_only = mixing_frame(matrix_rows(KEYS, 0, client_relations([np.array([2]), np.array([0]), np.array([1]), np.array([0])])))
    assert client_order(facts_only).tolist() == [1, 3, 2, 0]


def test_layer_choices_without_layer_records_keep_their_columns():
    # A run without the adaptive layer rule records no layer rows: the table is empty but has its
    # columns, so callers can select them as on a run that has some.
    from fhbench.mixing import layer_choices

    layers = layer_choices(mixing_frame(matrix_rows(KEYS, 2, {"mixing": np.full((2, 2), 0.5)})))
    assert layers.empty and list(layers.columns) == ["round", "layer", "spread", "chosen"]


def test_matrix_at_reads_mixing_files_of_runs_without_weights(tmp_path):
    # REPORT.md reads every run's mixing.csv together (fhbench.reporting.tables.load_metrics);
    # a run without mixing weights (FedAvg) writes the header only, and pandas then types the
    # concatenated columns as objects. The matrix must still come out as written.
    w = np.array([[0.5, 0.3, 0.2], [0.25, 0.5, 0.25], [0.1, 0.4, 0.5]])
    frame_for(w, [np.array([0]), np.array([1]), np.array([1, 1])]).to_csv(tmp_path / "epfl.csv", index=False)
    mixing_frame([]).to_csv(tmp_path / "fedavg.csv", index=False)
    both = load_metrics([tmp_path / "fedavg.csv", tmp_path / "epfl.csv"])
    assert both["i"].dtype == object  # the case this test is about
    got = matrix_at(both, "mixing")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, w)


def test_concentration_of_two_clients_by_hand():
    # The smallest federation it describes: each client's whole off-diagonal weight goes to the
    # other, which is both its nearest and its most weighted client (k clamps to N - 1 = 1).
    w = np.array([[0.6, 0.4], [0.3, 0.7]])
    stats = concentration(frame_for(w, [np.array([0]), np.array([1])]), k=3)
    assert stats["n_clients"] == 2 and stats["k"] == 1 and stats["nearest_uniform"] == 1.0
    assert stats["nearest_share"] == pytest.approx(1.0) and stats["top_share"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least two clients"):
        concentration(frame_for(np.array([[1.0]]), [np.array([0])]))
