"""APFL: one step of w, v and α by hand; the server averages w only."""

from __future__ import annotations

import pytest
import torch

from fhbench.algorithms.apfl import mix
from fhbench.federation import ClientRound
from tests.algorithms.conftest import full_grad, make_federation, snapshot, train_batch

LR = 0.1


def test_one_step_matches_hand_computed_w_v_and_alpha():
    fed = make_federation("apfl", n_clients=1, lr=LR)
    state = fed.states[0]
    gen = torch.Generator().manual_seed(3)
    for v in state.extra["v"].values():  # a personal model away from w, so ∂f/∂α ≠ 0
        v.add_(0.3 * torch.randn(v.shape, generator=gen))
    state.extra["alpha"] = 0.6
    w, v, alpha = snapshot(state.params), snapshot(state.extra["v"]), 0.6
    g_w = full_grad(fed, w, 0)
    v_bar = {k: alpha * v[k] + (1 - alpha) * w[k] for k in w}
    g_mix = full_grad(fed, v_bar, 0)
    d_alpha = sum((g_mix[k] * (v[k] - w[k])).sum().item() for k in w)
    fed.algorithm.step(state, ClientRound(fed, 0, 1), *train_batch(fed, 0))
    for k in w:
        torch.testing.assert_close(state.params[k], w[k] - LR * g_w[k], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(state.extra["v"][k], v[k] - LR * alpha * g_mix[k], rtol=1e-5, atol=1e-6)
    assert abs(d_alpha) > 1e-4
    assert state.extra["alpha"] == pytest.approx(min(1.0, max(0.0, alpha - LR * d_alpha)), rel=1e-6)


def test_alpha_is_clipped_to_unit_interval():
    fed = make_federation("apfl", n_clients=1, lr=LR, params={"alpha_lr": 1e6})
    state = fed.states[0]
    for v in state.extra["v"].values():
        v.add_(1.0)
    state.extra["alpha"] = 0.5
    fed.algorithm.step(state, ClientRound(fed, 0, 1), *train_batch(fed, 0))
    assert state.extra["alpha"] in (0.0, 1.0)  # a huge α step lands on a bound, not beyond


def test_global_copy_trains_and_is_averaged_personal_part_stays():
    fed = make_federation("apfl", n_clients=3)
    w0 = snapshot(fed.states[0].params)
    fed.run_round(1)
    w = fed.states[0].params
    assert any(not torch.equal(w[k], w0[k]) for k in w0)  # the published code never moved w
    for state in fed.states[1:]:
        for k in w:
            assert torch.equal(state.params[k], w[k])  # everyone holds the average
    vs = [s.extra["v"] for s in fed.states]
    assert any(not torch.equal(vs[0][k], vs[1][k]) for k in w0)  # personal models stay personal
    mixed = fed.algorithm.eval_params(0, fed.states[0])
    expected = mix(fed.states[0].extra["v"], w, fed.states[0].extra["alpha"])
    assert all(torch.equal(mixed[k], expected[k]) for k in w)


@pytest.mark.parametrize("alpha,ok", [(0.0, True), (1.0, True), (0.25, True), (-0.1, False), (1.5, False)])
def test_alpha_init_must_lie_in_the_unit_interval(alpha, ok):
    from fhbench.algorithms import build

    if ok:
        assert build("apfl", alpha_init=alpha).alpha_init == alpha
    else:
        with pytest.raises(ValueError, match="alpha_init"):
            build("apfl", alpha_init=alpha)


def test_alpha_is_clipped_at_both_ends():
    ends = set()
    for alpha_lr in (1e6, -1e6):  # a huge step each way: one lands on 0, the other on 1
        fed = make_federation("apfl", n_clients=1, lr=LR, params={"alpha_lr": alpha_lr})
        state = fed.states[0]
        for v in state.extra["v"].values():
            v.add_(1.0)
        state.extra["alpha"] = 0.5
        fed.algorithm.step(state, ClientRound(fed, 0, 1), *train_batch(fed, 0))
        ends.add(state.extra["alpha"])
    assert ends == {0.0, 1.0}
