"""FedProx: the proximal term's gradient μ (w − w_global) enters every local step."""

from __future__ import annotations

import torch

from fhbench.algorithms.fedprox import proximal_term
from fhbench.federation import ClientRound
from tests.algorithms.conftest import full_grad, make_federation, snapshot


def test_proximal_term_value_and_gradient():
    w = {"a": torch.tensor([1.0, 2.0], requires_grad=True), "b": torch.tensor([[3.0]], requires_grad=True)}
    anchor = {"a": torch.tensor([0.0, 4.0]), "b": torch.tensor([[1.0]])}
    term = proximal_term(w, anchor, mu=0.5)
    assert term.item() == 0.25 * (1 + 4 + 4)  # μ/2 Σ (w − w_g)²
    term.backward()
    assert torch.equal(w["a"].grad, torch.tensor([0.5, -1.0]))  # μ (w − w_g)
    assert torch.equal(w["b"].grad, torch.tensor([[1.0]]))


def test_local_steps_match_hand_computed_proximal_sgd():
    # Two full-batch steps: the first starts at w_global (no pull), the second is pulled back.
    mu, lr = 5.0, 0.1
    fed = make_federation("fedprox", n_clients=1, batch_size=64, local_epochs=2, lr=lr, params={"mu": mu})
    state = fed.states[0]
    w0 = snapshot(state.params)
    g0 = full_grad(fed, w0, 0)
    w1 = {k: w0[k] - lr * g0[k] for k in w0}
    g1 = full_grad(fed, w1, 0)
    expected = {k: w1[k] - lr * (g1[k] + mu * (w1[k] - w0[k])) for k in w0}
    fed.algorithm.local_update(0, state, ClientRound(fed, 0, 1))
    for k in w0:
        torch.testing.assert_close(state.params[k], expected[k], rtol=1e-5, atol=1e-6)
    # Without the term the second step would differ by lr·μ·(w1 − w0).
    assert max((state.params[k] - (w1[k] - lr * g1[k])).abs().max().item() for k in w0) > 1e-4


def test_zero_mu_is_fedavg():
    a = make_federation("fedprox", params={"mu": 0.0})
    b = make_federation("fedavg")
    a.run(), b.run()
    va, vb = a.metrics_frame(), b.metrics_frame()
    assert va["value"].tolist() == vb["value"].tolist()
