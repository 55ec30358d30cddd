"""SCAFFOLD: corrected local steps, option-II control variates, server step, both sent back."""

from __future__ import annotations

import torch

from fhbench.federation import ClientRound, tensor_bytes
from fhbench.participation import RoundPlan
from tests.algorithms.conftest import full_grad, make_federation, snapshot, without_training_rows

LR = 0.1


def two_steps(fed, client, x, c_i, c):
    """Two full-batch steps y ← y − lr (g(y) − c_i + c) from x, by hand."""
    y = dict(x)
    for _ in range(2):
        g = full_grad(fed, y, client)
        y = {k: y[k] - LR * (g[k] - c_i[k] + c[k]) for k in y}
    return y


def test_round_matches_hand_computed_control_variates_and_server_step():
    fed = make_federation("scaffold", n_clients=2, batch_size=64, local_epochs=2, lr=LR, params={"server_lr": 0.5})
    x0 = snapshot(fed.states[0].params)
    zero = {k: torch.zeros_like(v) for k, v in x0.items()}
    ys = [two_steps(fed, i, x0, zero, zero) for i in range(2)]
    # Option II with K = 2 steps, c = c_i = 0: c_i⁺ = (x − y_i) / (K lr).
    c_plus = [{k: (x0[k] - y[k]) / (2 * LR) for k in x0} for y in ys]
    fed.run_round(1)
    x1 = {k: x0[k] + 0.5 * ((ys[0][k] - x0[k]) + (ys[1][k] - x0[k])) / 2 for k in x0}  # η_g = 0.5
    c1 = {k: (c_plus[0][k] + c_plus[1][k]) / 2 for k in x0}
    for i, state in enumerate(fed.states):
        for k in x0:
            torch.testing.assert_close(state.params[k], x1[k], rtol=1e-5, atol=1e-6)  # model sent back
            torch.testing.assert_close(state.extra["c"][k], c1[k], rtol=1e-4, atol=1e-5)  # c sent back
            torch.testing.assert_close(state.extra["c_i"][k], c_plus[i][k], rtol=1e-4, atol=1e-5)
    # Round 2: the local steps use the correction −c_i + c.
    state = fed.states[0]
    expected = two_steps(fed, 0, x1, state.extra["c_i"], state.extra["c"])
    c_i, c = snapshot(state.extra["c_i"]), snapshot(state.extra["c"])
    trainer = ClientRound(fed, 0, 2)
    trainer.steps = 5  # steps counted before this update (another round's) do not count as its K
    fed.algorithm.local_update(0, state, trainer)
    for k in x0:
        torch.testing.assert_close(state.params[k], expected[k], rtol=1e-5, atol=1e-6)
        # Option II with c and c_i both non-zero now: c_i⁺ = c_i − c + (x − y) / (K lr), K = 2,
        # held until the server's reply arrives (a lost upload keeps the old c_i).
        c_i_plus = c_i[k] - c[k] + (x1[k] - expected[k]) / (2 * LR)
        torch.testing.assert_close(state.extra["pending_c_i"][k], c_i_plus, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(state.extra["c_i"][k], c_i[k])
        torch.testing.assert_close(state.extra["delta_c"][k], c_i_plus - c_i[k], rtol=1e-4, atol=1e-5)


def test_one_local_step_updates_the_control_variate():
    # K = 1 (one full batch, one epoch): c_i⁺ = (x − y) / lr from c = c_i = 0.
    fed = make_federation("scaffold", n_clients=2, batch_size=64, local_epochs=1, lr=LR)
    x0 = snapshot(fed.states[0].params)
    g = full_grad(fed, x0, 0)
    fed.algorithm.local_update(0, fed.states[0], ClientRound(fed, 0, 1))
    for k in x0:
        torch.testing.assert_close(fed.states[0].extra["pending_c_i"][k], g[k], rtol=1e-4, atol=1e-5)  # (x − (x − lr g)) / lr


def test_model_and_control_variate_travel_both_ways():
    fed = make_federation("scaffold", n_clients=3)
    fed.run()
    model_bytes = tensor_bytes(fed.states[0].params)
    comm = fed.metrics_frame().query("split == 'comm'")
    assert (comm["value"] == 2 * model_bytes).all()
    assert len(comm) == 2 * 3 * 2


def test_server_state_round_trips():
    fed = make_federation("scaffold")
    fed.run_round(1)
    saved = fed.algorithm.server_state()
    other = make_federation("scaffold")
    other.algorithm.load_server_state(saved)
    for k in saved["x"]:
        assert torch.equal(other.algorithm.x[k], fed.algorithm.x[k]) and torch.equal(other.algorithm.c[k], fed.algorithm.c[k])


def test_a_client_without_training_rows_keeps_c_i_zero_and_c_the_mean_of_the_c_i():
    """A site with no training rows takes K = 0 local steps, where option II's (x − y_i) / (K lr)
    is undefined: its c_i stays 0 and its Δc_i is 0, also in a round whose upload is lost. The
    server's c must stay the mean of all N client variates, c = (1/N) Σ_i c_i (the paper's
    Algorithm 1 with a sampled set), and the run must not turn NaN."""
    fed = without_training_rows("scaffold", client=2, n_clients=3, rounds=3, participation={"count": 3, "dropout": 0.5})
    plans = {1: (0, 1, 2), 2: (0, 1), 3: (0, 1, 2)}  # round 2: client 2 trains, its upload is lost
    fed.participation.plan = lambda r: RoundPlan(r, (0, 1, 2), plans[r])
    assert fed.run() == "completed"
    c_i = [s.extra["c_i"] for s in fed.states]
    for k, c in fed.algorithm.c.items():
        assert torch.equal(c_i[2][k], torch.zeros_like(c))
        torch.testing.assert_close(c, (c_i[0][k] + c_i[1][k] + c_i[2][k]) / 3)
    assert any(bool(c.abs().sum() > 0) for c in fed.algorithm.c.values())  # the others did move c
