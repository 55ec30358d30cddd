"""APPLE: the p_i step with its proximal pull, the λ(t) schedule, and the core exchange."""

from __future__ import annotations

import math

import pytest
import torch

from fhbench.algorithms.apple import loss_schedule
from fhbench.federation import ClientRound, tensor_bytes
from fhbench.participation import RoundPlan
from tests.algorithms.conftest import full_grad, make_federation, snapshot, train_batch

LR, P_LR, MU = 0.1, 0.05, 0.7


def test_loss_schedule_is_the_published_cosine():
    assert loss_schedule(1, 10) == 1.0  # t = 0
    assert loss_schedule(6, 10) == pytest.approx(0.5)  # t = T/2
    assert loss_schedule(3, 10) == pytest.approx((math.cos(math.pi * 2 / 10) + 1) / 2)
    assert loss_schedule(6, 10, decay_fraction=0.5) == 0.0  # past T
    assert loss_schedule(11, 10) == 0.0


def test_p_and_core_step_match_hand_computation():
    # The paper's update under plain SGD (core_update "plain").
    fed = make_federation("apple", n_clients=3, lr=LR, rounds=4, params={"p_lr": P_LR, "mu": MU, "core_update": "plain"})
    fed.run_round(1)  # cores now differ between clients
    state = fed.states[0]
    state.extra["p"] = torch.tensor([0.5, 0.2, 0.4])  # off 1/N, so the pull is visible
    p = state.extra["p"].clone()
    own = snapshot(state.params)
    cores = {0: own, **state.extra["cores"]}
    mixed = {k: sum(p[j].item() * cores[j][k] for j in range(3)) for k in own}
    g = full_grad(fed, mixed, 0)
    lam = loss_schedule(2, 4)
    grad_p = torch.tensor([sum((g[k] * cores[j][k]).sum().item() for k in own) for j in range(3)])
    expected_p = p - P_LR * (grad_p + lam * MU * (p - 1 / 3))
    fed.algorithm.step(0, state, ClientRound(fed, 0, 2), *train_batch(fed, 0))
    torch.testing.assert_close(state.extra["p"], expected_p, rtol=1e-5, atol=1e-6)
    for k in own:  # own core moves by lr · p_ii · g; downloaded cores do not move
        torch.testing.assert_close(state.params[k], own[k] - LR * p[0].item() * g[k], rtol=1e-5, atol=1e-6)
        assert torch.equal(state.extra["cores"][1][k], cores[1][k])


def test_every_client_downloads_all_other_cores():
    n = 4
    fed = make_federation("apple", n_clients=n)
    fed.run_round(1)
    model = tensor_bytes(fed.states[0].params)
    comm = fed.metrics_frame().query("split == 'comm'")
    assert (comm.query("metric == 'upload_bytes'")["value"] == model).all()
    assert (comm.query("metric == 'download_bytes'")["value"] == (n - 1) * model).all()
    for i, state in enumerate(fed.states):
        assert sorted(state.extra["cores"]) == [j for j in range(n) if j != i]
        for j, core in state.extra["cores"].items():
            assert all(torch.equal(core[k], fed.states[j].params[k]) for k in core)
    # Cores are frozen copies, shared by the clients that downloaded them.
    assert fed.states[0].extra["cores"][2]["classifier.weight"] is fed.states[1].extra["cores"][2]["classifier.weight"]
    assert fed.states[0].extra["cores"][2]["classifier.weight"] is not fed.states[2].params["classifier.weight"]


def _apple_step_inputs(core_update: str):
    fed = make_federation("apple", n_clients=3, lr=LR, rounds=4, params={"p_lr": P_LR, "mu": MU, "core_update": core_update})
    fed.run_round(1)
    state = fed.states[0]
    p = state.extra["p"].clone()
    own = snapshot(state.params)
    cores = {0: own, **state.extra["cores"]}
    return fed, state, p, own, cores


def test_scaled_core_update_is_pfllib_lr_times_n():
    fed, state, p, own, cores = _apple_step_inputs("scaled")
    g = full_grad(fed, {k: sum(p[j].item() * cores[j][k] for j in range(3)) for k in own}, 0)
    fed.algorithm.step(0, state, ClientRound(fed, 0, 2), *train_batch(fed, 0))
    for k in own:  # θ_i ← θ_i − N · lr · p_ii · g
        torch.testing.assert_close(state.params[k], own[k] - 3 * LR * p[0].item() * g[k], rtol=1e-5, atol=1e-6)


def test_momentum_core_update_matches_sgd_with_momentum():
    """Two steps of the authors' update equal torch's SGD(momentum=0.9) on the mixture's own-core gradient."""
    fed, state, p, own, cores = _apple_step_inputs("momentum")
    x, y = train_batch(fed, 0)
    buffers: dict = {}
    trainer = ClientRound(fed, 0, 2)
    reference = {k: torch.nn.Parameter(v.clone()) for k, v in own.items()}
    optimiser = torch.optim.SGD(list(reference.values()), lr=trainer.lr, momentum=0.9)
    for _ in range(2):
        p_now = state.extra["p"].clone()
        mixed = {k: p_now[0].item() * reference[k].detach() + sum(p_now[j].item() * cores[j][k] for j in (1, 2)) for k in own}
        g = full_grad(fed, mixed, 0)
        optimiser.zero_grad()
        for k, param in reference.items():
            param.grad = g[k] * p_now[0].item()
        optimiser.step()
        fed.algorithm.step(0, state, trainer, x, y, buffers)
    for k in own:
        torch.testing.assert_close(state.params[k], reference[k].detach(), rtol=1e-5, atol=1e-6)
    assert "p" in buffers  # p_i is stepped with momentum too, as in the authors' optimiser


def test_unknown_core_update_is_named():
    from fhbench.algorithms import build

    with pytest.raises(ValueError, match="core_update"):
        build("apple", core_update="adam")


def test_loss_schedule_is_exactly_zero_past_its_horizon():
    # T = decay_fraction · rounds; λ = 0 from t = T on, even where the cosine would not be 0.
    assert loss_schedule(8, 10, decay_fraction=0.5) == 0.0  # t = 7 > T = 5 (the cosine gives 0.35)
    assert loss_schedule(2, 1, decay_fraction=0.5) == 0.0  # T = 0.5 < 1: t = 1 is past it exactly
    assert loss_schedule(1, 1, decay_fraction=0.5) == 1.0


def test_relationship_vectors_start_uniform():
    fed = make_federation("apple", n_clients=4)
    for state in fed.states:
        assert torch.equal(state.extra["p"], torch.full((4,), 0.25))


def test_p_momentum_step_and_reported_loss_by_hand():
    """Two momentum steps of p_i: p ← p − p_lr (0.9 b + grad), b the previous step's; the step
    reports the batch loss plus the proximal term λμ/2 ‖p − 1/N‖² at the p it started from."""
    fed = make_federation("apple", n_clients=3, lr=LR, rounds=4, params={"p_lr": P_LR, "mu": MU, "decay_fraction": 0.5})
    fed.run_round(1)
    state = fed.states[0]
    state.extra["p"] = torch.tensor([0.5, 0.2, 0.4])
    x, y = train_batch(fed, 0)
    trainer, buffers, previous = ClientRound(fed, 0, 2), {}, None
    lam = (math.cos(math.pi * 1 / 2) + 1) / 2  # t = 1, T = 0.5 · 4 = 2
    assert loss_schedule(2, 4, 0.5) == pytest.approx(lam)
    for _ in range(2):
        p = state.extra["p"].clone()
        cores = {0: snapshot(state.params), **state.extra["cores"]}
        mixed = {k: sum(p[j].item() * cores[j][k] for j in range(3)) for k in cores[0]}
        loss, g = fed.shared.loss_and_grads(mixed, x, y)
        grad_p = torch.tensor([sum((g[k] * cores[j][k]).sum().item() for k in g) for j in range(3)]) + lam * MU * (p - 1 / 3)
        grad_p = grad_p if previous is None else 0.9 * previous + grad_p
        reported = fed.algorithm.step(0, state, trainer, x, y, buffers)
        torch.testing.assert_close(state.extra["p"], p - P_LR * grad_p, rtol=1e-5, atol=1e-6)
        assert reported == pytest.approx(float(loss) + 0.5 * lam * MU * float(((p - 1 / 3) ** 2).sum()), rel=1e-6)
        previous = grad_p


def test_momentum_carries_across_a_rounds_batches_and_restarts_each_round():
    fed = make_federation("apple", n_clients=2, batch_size=4, rounds=3)  # 12 rows: 3 batches a round
    seen, step = [], fed.algorithm.step
    fed.algorithm.step = lambda *args: seen.append(args[-1]) or step(*args)
    for round_ in (1, 2):
        fed.algorithm.local_update(0, fed.states[0], ClientRound(fed, 0, round_))
    assert len(seen) == 6 and all(isinstance(b, dict) for b in seen)
    assert seen[0] is seen[1] is seen[2] and seen[3] is seen[4] is seen[5] and seen[0] is not seen[3]
    assert "p" in seen[0] and set(fed.states[0].params) <= set(seen[0])  # every core tensor and p have a buffer
    fed.algorithm.step = step
    state = fed.states[1]
    fed.algorithm.step(1, state, ClientRound(fed, 1, 1), *train_batch(fed, 1))  # without buffers: a fresh start
    assert torch.isfinite(state.extra["p"]).all()


def test_a_stale_client_catches_up_on_the_other_clients_cores_only():
    """A client asked after missing rounds downloads what every client downloads: the latest
    cores of the N − 1 others (the paper's download budget M = N − 1), never its own core back
    (the server's copy of it is older than the core the client holds)."""
    fed = make_federation("apple", n_clients=3, rounds=2, participation={"count": 1})
    fed.participation.plan = lambda r: RoundPlan(r, (0,), (0,)) if r == 1 else RoundPlan(r, (1,), (1,))
    fed.run_round(1)
    message = fed.algorithm.catch_up(1, fed.states[1])
    assert {key.split("/", 1)[0] for key in message} == {"core0", "core2"}
    for k, v in fed.states[0].params.items():
        assert torch.equal(message[f"core0/{k}"], v)  # client 0's core as uploaded in round 1
    fed.run_round(2)
    # Round 2's download: the catch-up and the round's own message, two cores each.
    comm = fed.metrics_frame().query("split == 'comm' and metric == 'download_bytes' and round == 2")
    assert comm["client"].tolist() == [1]
    assert comm["value"].iloc[0] == 4 * tensor_bytes(fed.initial)
