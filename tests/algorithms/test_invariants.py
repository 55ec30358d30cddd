"""Properties every registered algorithm must have, checked through the real engine.

- With identical clients, aggregation leaves every client's trained tensors unchanged, and a
  second aggregation without training in between changes nothing at all (state is consistent).
- Communication rows are the byte sizes of exactly the tensors upload/aggregate returned.
- A run resumed from its checkpoint ends with the metrics of an uninterrupted run.
- A run whose loss explodes stops cleanly as diverged.
"""

from __future__ import annotations

import pytest
import torch

from fhbench.algorithms import ALGORITHMS
from fhbench.federation import ClientRound, tensor_bytes
from tests.algorithms.conftest import make_federation, snapshot

NAMES = sorted(ALGORITHMS.builtin)


def flatten(value, prefix="") -> dict:
    """Every tensor and number in a (nested) client state, keyed by its path."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}/{k}"))
        return out
    if isinstance(value, torch.Tensor):
        return {prefix: value.detach().clone()}
    return {prefix: value}


def exchange(fed):
    uploads = [fed.algorithm.upload(i, s) for i, s in enumerate(fed.states)]
    messages = fed.algorithm.aggregate(uploads)
    assert len(messages) == len(fed.states)
    for i, s in enumerate(fed.states):
        fed.algorithm.download(i, s, messages[i])
    return uploads, messages


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
        else:
            assert a[k] == pytest.approx(b[k]), k


@pytest.mark.parametrize("algorithm", NAMES)
def test_identical_clients_are_left_unchanged_by_aggregation(algorithm):
    fed = make_federation(algorithm, n_clients=3, identical=True, batch_size=64)
    for i, s in enumerate(fed.states):
        fed.algorithm.local_update(i, s, ClientRound(fed, i, 1))
    trained = [snapshot(s.params) for s in fed.states]
    assert_same(trained[0], trained[1])  # the clients really are identical
    exchange(fed)
    for i, s in enumerate(fed.states):
        assert_same(snapshot(s.params), trained[i])
    consistent = [flatten(s.extra) | flatten(s.params, "params") for s in fed.states]
    evals = [snapshot(fed.algorithm.eval_params(i, s)) for i, s in enumerate(fed.states)]
    exchange(fed)
    for i, s in enumerate(fed.states):
        assert_same(flatten(s.extra) | flatten(s.params, "params"), consistent[i])
        assert_same(snapshot(fed.algorithm.eval_params(i, s)), evals[i])


@pytest.mark.parametrize("algorithm", NAMES)
def test_comm_rows_are_the_bytes_of_the_exchanged_tensors(algorithm):
    fed = make_federation(algorithm, n_clients=3, rounds=1)
    for i, s in enumerate(fed.states):
        fed.algorithm.local_update(i, s, ClientRound(fed, i, 1))
    uploads, messages = exchange(fed)
    fed2 = make_federation(algorithm, n_clients=3, rounds=1)
    fed2.run()
    comm = fed2.metrics_frame().query("split == 'comm'").set_index(["client", "metric"])["value"]
    for i in range(3):
        assert comm[(i, "upload_bytes")] == tensor_bytes(uploads[i])
        assert comm[(i, "download_bytes")] == tensor_bytes(messages[i])
    model = tensor_bytes(fed.states[0].params)
    expected_up = {"local": 0, "scaffold": 2 * model, "fedavg": model, "fedprox": model, "apfl": model, "apple": model, "fedala": model}
    if algorithm in expected_up:
        assert comm[(0, "upload_bytes")] == expected_up[algorithm]


@pytest.mark.parametrize("algorithm", NAMES)
def test_resume_from_checkpoint_gives_identical_metrics(algorithm, tmp_path):
    whole = make_federation(algorithm, rounds=3)
    assert whole.run() == "completed"
    interrupted = make_federation(algorithm, rounds=3)
    interrupted.run_round(1)
    interrupted.save_checkpoint(tmp_path, 1)
    resumed = make_federation(algorithm, rounds=3)  # a fresh process: new model, new states
    assert resumed.run(tmp_path) == "completed"
    assert resumed.start_round == 2
    a, b = whole.metrics_frame(), resumed.metrics_frame()
    assert len(a) > 0 and a.equals(b)


@pytest.mark.parametrize("algorithm", NAMES)
def test_huge_learning_rate_diverges_cleanly(algorithm):
    fed = make_federation(algorithm, lr=1e38, rounds=3)
    assert fed.run() == "diverged"
    rows = fed.metrics_frame()
    stop = rows.query("split == 'run' and metric == 'diverged'")
    assert len(stop) == 1 and stop["value"].iloc[0] == 1.0
    assert (rows["round"] <= stop["round"].iloc[0]).all()
