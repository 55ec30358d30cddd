"""Local training: nothing is sent, nothing changes at aggregation, clients never interact."""

from __future__ import annotations

import torch

from tests.algorithms.conftest import make_federation, snapshot


def test_sends_zero_bytes_and_aggregation_changes_nothing():
    fed = make_federation("local", n_clients=3)
    fed.run_round(1)
    comm = fed.metrics_frame().query("split == 'comm'")
    assert len(comm) == 6 and (comm["value"] == 0).all()
    before = [snapshot(s.params) for s in fed.states]
    messages = fed.algorithm.aggregate([fed.algorithm.upload(i, s) for i, s in enumerate(fed.states)])
    for i, s in enumerate(fed.states):
        fed.algorithm.download(i, s, messages[i])
        assert all(torch.equal(s.params[k], before[i][k]) for k in before[i])
    assert any(not torch.equal(before[0][k], before[1][k]) for k in before[0])  # no averaging happened
