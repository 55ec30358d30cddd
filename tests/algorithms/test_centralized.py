"""centralized: one model trained on the union of every client's training rows, nothing sent."""

from __future__ import annotations

import torch

from fhbench.federation import ClientRound
from tests.algorithms.conftest import full_grad, make_federation, snapshot

LR = 0.1


def test_one_round_is_one_sgd_step_on_the_pooled_rows():
    # Three clients of 12 training rows, one batch holding all 36: the step is −lr times the mean
    # gradient over the union, i.e. the mean of the three clients' own mean gradients.
    fed = make_federation("centralized", n_clients=3, batch_size=64, lr=LR)
    x0 = snapshot(fed.states[0].params)
    grads = [full_grad(fed, x0, c) for c in range(3)]
    for client in range(3):  # the pooled epoch runs at client 0; the others only report its loss
        fed.algorithm.local_update(client, fed.states[client], ClientRound(fed, client, 1))
    for k in x0:
        expected = x0[k] - LR * sum(g[k] for g in grads) / 3
        torch.testing.assert_close(fed.states[0].params[k], expected, rtol=1e-5, atol=1e-6)
        assert fed.states[2].params[k] is fed.states[0].params[k]  # one model for every client


def test_nothing_is_sent():
    fed = make_federation("centralized", n_clients=2)
    fed.run_round(1)
    comm = fed.metrics_frame().query("split == 'comm'")
    assert len(comm) == 2 * 2 and (comm["value"] == 0).all()
