"""The A/B asymmetry measure: by hand, and recorded by the real engine every round."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fhbench.algorithms import ALGORITHMS
from fhbench.asymmetry import ASYMMETRY_COLUMNS, AsymmetryRecorder, similarity_across_clients
from tests.algorithms.conftest import make_federation


def test_similarity_across_clients_by_hand():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    assert similarity_across_clients([a, a, 3 * a]) == pytest.approx(1.0)  # same direction, any length
    assert similarity_across_clients([a, b]) == pytest.approx(0.0)
    assert similarity_across_clients([a, -a]) == pytest.approx(-1.0)
    # Three clients: pairs (a, a) = 1, (a, b) = 0, (a, b) = 0 → mean 1/3.
    assert similarity_across_clients([a, a, b]) == pytest.approx(1 / 3)
    # Matrices are compared flattened: [[1, 1], [0, 0]] against [[1, 0], [1, 0]] → 1/2.
    assert similarity_across_clients([torch.tensor([[1.0, 1.0], [0.0, 0.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]])]) == pytest.approx(0.5)


def test_clients_that_did_not_move_are_left_out():
    a, zero = torch.tensor([1.0, 2.0]), torch.zeros(2)
    assert similarity_across_clients([a, zero, 2 * a]) == pytest.approx(1.0)
    assert math.isnan(similarity_across_clients([a, zero]))
    assert math.isnan(similarity_across_clients([a]))


def test_recorder_measures_each_tensors_delta_over_the_round():
    recorder = AsymmetryRecorder(("d", "p", "x", "default", 0), ["a0"], ["b0"])
    start = {c: {"a0": torch.ones(2, 2), "b0": torch.zeros(2, 2)} for c in range(3)}
    recorder.round_start(start)
    # A: every client adds the same direction (alike); B: orthogonal directions (not alike).
    end = {c: {"a0": torch.ones(2, 2) + (c + 1) * torch.eye(2), "b0": torch.zeros(2, 2)} for c in range(3)}
    for c in range(3):
        end[c]["b0"].view(-1)[c] = 1.0
    recorder.round_end(1, end)
    rows = {(r[6], r[7], r[8]): r[9] for r in recorder.rows}
    assert rows[("A", 0, "cosine")] == pytest.approx(1.0)
    assert rows[("B", 0, "cosine")] == pytest.approx(0.0)
    assert rows[("A", 0, "norm")] == pytest.approx(np.mean([math.sqrt(2) * k for k in (1, 2, 3)]))
    assert rows[("B", 0, "norm")] == pytest.approx(1.0)
    assert len(recorder.frame().columns) == len(ASYMMETRY_COLUMNS)


@pytest.mark.parametrize("algorithm", sorted(set(ALGORITHMS) - {"centralized"}))
def test_the_engine_records_every_round_and_every_lora_tensor_a_client_holds(algorithm):
    fed = make_federation(algorithm, n_clients=4, rounds=3)
    fed.run()
    frame = fed.asymmetry.frame()
    info = fed.algorithm.info
    assert sorted(frame["round"].unique()) == [1, 2, 3]
    per_round = frame.groupby("round").size()
    held = [k for k in info.lora_a + info.lora_b if k in fed.states[0].params]  # FFA-LoRA: its frozen A is no client state
    assert (per_round == 2 * len(held)).all()  # cosine and norm per tensor
    cosine = frame[frame.measure == "cosine"]["value"]
    assert cosine.between(-1, 1).all()
    assert (frame[frame.measure == "norm"]["value"] > 0).all()


def test_the_record_equals_the_measure_of_the_clients_own_updates():
    """FedAvg: every client starts a round from the global model, so its delta is its update."""
    fed = make_federation("fedavg", n_clients=3, rounds=2)
    fed.run_round(1)
    start = [{k: v.clone() for k, v in s.params.items()} for s in fed.states]  # the global model after round 1
    twin = make_federation("fedavg", n_clients=3, rounds=2)
    twin.run_round(1)
    from fhbench.federation import ClientRound

    for c, s in enumerate(twin.states):
        twin.algorithm.local_update(c, s, ClientRound(twin, c, 2))
    fed.run_round(2)
    rows = fed.asymmetry.frame()
    rows = rows[(rows["round"] == 2) & (rows.measure == "cosine")]
    for matrix, names in (("A", fed.algorithm.info.lora_a), ("B", fed.algorithm.info.lora_b)):
        for layer, name in enumerate(names):
            expected = similarity_across_clients([twin.states[c].params[name] - start[c][name] for c in range(3)])
            got = rows[(rows.matrix == matrix) & (rows.layer == layer)]["value"].item()
            assert got == pytest.approx(expected, abs=1e-6)


def test_centralized_records_nothing():
    fed = make_federation("centralized", n_clients=3, rounds=1)
    fed.run()
    assert fed.asymmetry.frame().empty
