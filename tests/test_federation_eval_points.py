"""Both evaluation points, the centralized reference and EPFL's mixing artifact, through the real engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fhbench.algorithms.epfl import similarity_weights
from fhbench.metrics import at_eval_point, classification_metrics
from fhbench.mixing import matrix_at
from tests.algorithms.conftest import make_federation


def scored(fed, point: str) -> pd.DataFrame:
    frame = fed.metrics_frame()
    frame = frame[frame.split.isin(["val", "test"]) & (frame.eval_point == point)]
    return frame.drop(columns=["algorithm", "eval_point"]).reset_index(drop=True)


def test_received_scores_the_server_average_for_fedavg():
    fed, local = make_federation("fedavg", rounds=1), make_federation("local", rounds=1)
    fed.run(), local.run()
    # Round 1 trains every client from the same start with the same streams: "local"'s states
    # are exactly the tensors FedAvg's clients uploaded. Their size-weighted mean (equal sizes
    # here) is the server's model, computed by hand.
    sizes = [len(c.train) for c in fed.clients]
    assert len(set(sizes)) == 1
    server = {k: sum(s.params[k] for s in local.states) / len(local.states) for k in local.states[0].params}
    rows = scored(fed, "received")
    assert len(rows) == 3 * 2 * 4  # clients × splits × (3 classification metrics + loss)
    for client in range(3):
        for split in ("val", "test"):
            idx = getattr(fed.clients[client], split)
            pred = fed.shared.predict(server, fed.inputs[idx], 64)
            expected = classification_metrics(fed.labels[idx].numpy(), pred)
            got = rows[(rows.client == client) & (rows.split == split)].set_index("metric")["value"]
            for metric, value in expected.items():
                assert got[metric] == value
            # The loss row is the mean cross-entropy of the same model on the same part.
            fed.shared.load(server)
            fed.shared.set_training(False)
            with torch.no_grad():
                loss = torch.nn.functional.cross_entropy(fed.shared.forward(fed.inputs[idx]), fed.labels[idx])
            assert got["loss"] == pytest.approx(float(loss), rel=1e-5)
    # And the local point is still each client's own trained model, as published.
    assert scored(fed, "local").equals(scored(local, "local"))


def test_received_point_leaves_the_local_rows_unchanged():
    both, only = make_federation("epfl", rounds=3), make_federation("epfl", rounds=3, eval_points=("local",))
    both.run(), only.run()
    assert scored(both, "local").equals(scored(only, "local"))
    frame = only.metrics_frame()
    assert set(frame[frame.split.isin(["val", "test"])].eval_point) == {"local"}


def test_at_eval_point_keeps_non_evaluation_rows():
    fed = make_federation("fedavg", rounds=2)
    fed.run()
    frame = fed.metrics_frame()
    local = at_eval_point(frame, "local")
    assert set(local[local.split.isin(["val", "test"])].eval_point) == {"local"}
    assert (local.split == "comm").sum() == (frame.split == "comm").sum()
    # Files written before the column existed read as the local point.
    legacy = frame[frame.eval_point != "received"].drop(columns="eval_point")
    assert at_eval_point(legacy, "local").equals(legacy)


def test_centralized_with_one_client_equals_local():
    central, local = make_federation("centralized", n_clients=1, rounds=3), make_federation("local", n_clients=1, rounds=3)
    central.run(), local.run()
    a, b = central.metrics_frame(), local.metrics_frame()

    def keep(f):
        return f[f.split != "comm"].drop(columns="algorithm").reset_index(drop=True)

    assert len(keep(a)) > 0 and keep(a).equals(keep(b))
    for k, v in central.states[0].params.items():
        assert torch.equal(v, local.states[0].params[k])


def test_centralized_trains_one_model_on_the_union():
    fed = make_federation("centralized", n_clients=3, rounds=2)
    fed.run()
    first = fed.states[0].params
    assert all(s.params is first for s in fed.states)  # one model, scored per client
    frame = fed.metrics_frame()
    loss = frame[(frame.split == "train") & (frame["round"] == 1)]["value"]
    assert loss.nunique() == 1  # the pooled pass's loss, reported for every client
    comm = frame[frame.split == "comm"]["value"]
    assert (comm == 0).all()
    # 3 clients × 12 samples pooled, batch 8: ceil(36 / 8) = 5 steps per round, not 3 × 2.
    fed2 = make_federation("centralized", n_clients=3, rounds=1)
    from fhbench.federation import ClientRound

    trainer = ClientRound(fed2, 0, 1)
    fed2.algorithm.local_update(0, fed2.states[0], trainer)
    assert trainer.steps == 5


def test_mixing_artifact_equals_similarity_weights_of_the_stored_b():
    fed = make_federation("epfl", n_clients=4, rounds=2, eval_every=1)
    fed.run()
    frame = fed.server_frame()
    assert sorted(frame["round"].unique()) == [0, 1, 2]
    assert set(frame[frame["round"] == 2].matrix) == {"mixing", "b_distance"}
    # EPFL shares A and keeps B: each client's B after the last round is the B it uploaded.
    b = [[s.params[k] for k in fed.algorithm.info.lora_b] for s in fed.states]
    expected = similarity_weights(b, 0.5, "all").numpy()
    np.testing.assert_allclose(matrix_at(frame, "mixing", 2), expected, rtol=0, atol=1e-7)
    assert np.allclose(matrix_at(frame, "mixing", 2).sum(1), 1.0)
    # Non-EPFL runs write only the header.
    other = make_federation("fedavg", rounds=1)
    other.run()
    assert other.server_frame().empty and list(other.server_frame().columns) == list(frame.columns)


def test_a_clients_parts_scored_in_one_pass_equal_each_part_scored_alone():
    # score() predicts a client's val and test rows together (one forward pass for a small
    # client); each part's predictions must be exactly those of the part alone, and its loss the
    # part's own mean cross-entropy, whatever the batch boundaries.
    fed = make_federation("fedavg", rounds=1)
    fed.run()
    params = fed.algorithm.eval_params(0, fed.states[0])
    data = fed.clients[0]
    joined = torch.cat([data.val, data.test])
    sizes = [len(data.val), len(data.test)]
    assert min(sizes) > 0
    for batch_size in (64, 3, 1):
        parts = fed.shared.predict_parts(params, fed.inputs[joined], fed.labels[joined], sizes, batch_size)
        for (pred, loss), idx in zip(parts, (data.val, data.test)):
            alone = fed.shared.predict(params, fed.inputs[idx], 64)
            np.testing.assert_array_equal(pred, alone)
            fed.shared.load(params)
            fed.shared.set_training(False)
            with torch.no_grad():
                expected = torch.nn.functional.cross_entropy(fed.shared.forward(fed.inputs[idx]), fed.labels[idx])
            assert loss == pytest.approx(float(expected), rel=1e-5)
    empty = fed.shared.predict_parts(params, fed.inputs[data.val], fed.labels[data.val], [len(data.val), 0], 64)
    assert np.isnan(empty[1][1]) and len(empty[1][0]) == 0
    with pytest.raises(ValueError, match="parts of"):
        fed.shared.predict_parts(params, fed.inputs[joined], fed.labels[joined], [1], 64)
