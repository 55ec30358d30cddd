"""What every algorithm does with clients that sit a round out, checked by hand through the real engine.

One round of four clients: 0, 1 and 2 are asked; 0 and 2 return; 1 trains but its upload is
lost; 3 is not asked. Client 2 holds three times the data of the others as far as the server
knows (size weights 1:1:3:1). The trained tensors y_i come from the same (round, client) streams
in a twin federation, so every expectation below is computed by hand from them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from fhbench.algorithms import ALGORITHMS
from fhbench.algorithms.epfl import similarity_weights
from fhbench.federation import ClientRound
from fhbench.participation import RoundPlan
from tests.algorithms.conftest import make_federation, snapshot

SIZES = (12, 12, 36, 12)
PLAN = RoundPlan(1, (0, 1, 2), (0, 2))
LR = 0.1


def federation(algorithm: str):
    fed = make_federation(algorithm, n_clients=4, rounds=2, batch_size=64, lr=LR, participation={"count": 3, "dropout": 0.5})
    fed.algorithm.info = dataclasses.replace(fed.algorithm.info, train_sizes=SIZES)
    fed.participation.plan = lambda r: PLAN if r == 1 else RoundPlan(r, (3,), (3,))
    return fed


def trained(algorithm: str) -> tuple[list[dict], list, dict]:
    """The states of clients 0-2 after round 1's local update (no exchange), and the initial tensors."""
    twin = federation(algorithm)
    initial = snapshot(twin.states[3].params)
    for c in PLAN.selected:
        twin.algorithm.local_update(c, twin.states[c], ClientRound(twin, c, 1))
    return [snapshot(s.params) for s in twin.states], twin.states, initial


def close(a, b, **kw):
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, **kw)


def weighted(ys: list[dict], keys, clients=(0, 2)) -> dict:
    total = sum(SIZES[c] for c in clients)
    return {k: sum(SIZES[c] / total * ys[c][k] for c in clients) for k in keys}


def run_round_one(algorithm: str):
    fed = federation(algorithm)
    fed.run_round(1)
    return fed


def check_global(algorithm: str, shared=None):
    """FedAvg's rule: the size-weighted mean over the returned clients, sent to them only."""
    ys, _, initial = trained(algorithm)
    fed = run_round_one(algorithm)
    keys = shared(fed) if shared else list(ys[0])
    avg = weighted(ys, keys)
    for c in (0, 2):
        for k in keys:
            close(fed.states[c].params[k], avg[k])
    for k in ys[1]:
        close(fed.states[1].params[k], ys[1][k])  # dropped: keeps what it trained
        assert fed.states[3].params[k].equal(initial[k])  # not asked: untouched
    # Round 2 asks client 3, which missed round 1's message: it trains from the new global model.
    twin = federation(algorithm)
    state = twin.states[3]
    for k in keys:
        state.params[k].copy_(avg[k])
    twin.algorithm.local_update(3, state, ClientRound(twin, 3, 2))
    fed.run_round(2)  # client 3 alone returns: the new global model is its own update
    for k in keys:
        close(fed.states[3].params[k], state.params[k])
    return fed, ys, avg


def test_fedavg():
    check_global("fedavg")


def test_fedprox():
    fed, _, avg = check_global("fedprox")
    assert all(fed.algorithm.global_model[k].equal(fed.states[3].params[k]) for k in avg)  # client 3 returned in round 2


def test_ffa_lora():
    fed, ys, _ = check_global("ffa_lora", shared=lambda f: f.algorithm.shared_names())
    assert set(fed.algorithm.info.lora_a).isdisjoint(fed.states[0].params)  # A is never client state


def test_scaffold():
    ys, _, x0 = trained("scaffold")
    fed = run_round_one("scaffold")
    # K = 1 full-batch step, c = c_i = 0: Δc_i = c_i⁺ = (x0 − y_i) / lr; c ← c + (Δc_0 + Δc_2) / N with N = 4.
    delta = {c: {k: (x0[k] - ys[c][k]) / LR for k in x0} for c in (0, 2)}
    x1 = {k: x0[k] + (ys[0][k] - x0[k] + ys[2][k] - x0[k]) / 2 for k in x0}
    c1 = {k: (delta[0][k] + delta[2][k]) / 4 for k in x0}
    for k in x0:
        close(fed.algorithm.x[k], x1[k])
        close(fed.algorithm.c[k], c1[k], msg=k)
        for c in (0, 2):
            close(fed.states[c].params[k], x1[k])
            close(fed.states[c].extra["c_i"][k], delta[c][k], msg=k)
        # The dropped client's Δc never reached the server: it keeps c_i = 0, and c stays the mean of the c_i.
        assert not fed.states[1].extra["c_i"][k].any() and not fed.states[3].extra["c_i"][k].any()
        close(sum(s.extra["c_i"][k] for s in fed.states) / 4, fed.algorithm.c[k])
    assert "pending_c_i" not in fed.states[1].extra
    assert not any(v.any() for v in fed.states[1].extra["delta_c"].values())
    # Client 3, asked in round 2, first downloads x and c.
    message = fed.algorithm.catch_up(3, fed.states[3])
    assert set(message) == {f"model/{k}" for k in x0} | {f"control/{k}" for k in x0}


def test_apfl():
    ys, states, initial = trained("apfl")
    fed = run_round_one("apfl")
    avg = weighted(ys, ys[0])
    for k in initial:
        for c in (0, 2):
            close(fed.states[c].params[k], avg[k])
            close(fed.states[c].extra["v"][k], states[c].extra["v"][k])  # v_i: trained, never averaged
        close(fed.states[1].params[k], ys[1][k])
        close(fed.states[1].extra["v"][k], states[1].extra["v"][k])
        assert fed.states[3].extra["v"][k].equal(initial[k]) and fed.states[3].params[k].equal(initial[k])
    assert fed.states[3].extra["alpha"] == 1.0 and fed.states[1].extra["alpha"] == states[1].extra["alpha"]
    for k in avg:
        close(fed.algorithm.catch_up(3, fed.states[3])[k], avg[k])  # asked again, client 3 first downloads w


def test_apple():
    ys, states, initial = trained("apple")
    fed = run_round_one("apple")
    # The server stores the returned cores; the others keep the initial core it knows for them.
    for c, expected in ((0, ys[0]), (1, initial), (2, ys[2]), (3, initial)):
        for k in initial:
            close(fed.algorithm.cores[c][k], expected[k])
    # Client 0 downloads the latest cores of 1 (stale, initial), 2 (new) and 3 (initial).
    for j, expected in ((1, initial), (2, ys[2]), (3, initial)):
        for k in initial:
            close(fed.states[0].extra["cores"][j][k], expected[k])
    # The dropped client 1 got nothing: it still holds the initial cores of the others, and its trained p.
    for j in (0, 2, 3):
        for k in initial:
            assert fed.states[1].extra["cores"][j][k].equal(initial[k])
    close(fed.states[1].extra["p"], states[1].extra["p"])
    assert torch.equal(fed.states[3].extra["p"], torch.full((4,), 0.25))


def test_fedala():
    ys, _, initial = trained("fedala")
    fed = run_round_one("fedala")
    avg = weighted(ys, ys[0])
    for c in (0, 2):
        for k in avg:
            close(fed.states[c].extra["global"][k], avg[k])
            close(fed.states[c].params[k], ys[c][k])  # θ_i kept for ALA
    assert fed.states[1].extra.get("global") is None and fed.states[3].extra.get("global") is None
    # Asked in round 2, client 3 first receives θ, which ALA then mixes with its own θ_i.
    message = fed.algorithm.catch_up(3, fed.states[3])
    assert all(torch.allclose(message[k], avg[k]) for k in avg)


def test_epfl():
    ys, _, initial = trained("epfl")
    fed = run_round_one("epfl")
    info = fed.algorithm.info
    w = similarity_weights([[ys[c][k] for k in info.lora_b] for c in (0, 2)], self_weight=0.5)  # over the returned only
    for i, c in enumerate((0, 2)):
        for k in info.lora_a:
            close(fed.states[c].params[k], w[i, 0] * ys[0][k] + w[i, 1] * ys[2][k])
    for k in info.lora_a:
        close(fed.states[1].params[k], ys[1][k])  # the others keep their A
        assert fed.states[3].params[k].equal(initial[k])
    assert fed.algorithm.catch_up(3, fed.states[3]) == {}
    mixing = fed.algorithm.server_matrices()["mixing"].numpy()
    assert np.isnan(mixing[[1, 3]]).all() and np.isnan(mixing[:, [1, 3]]).all()
    np.testing.assert_allclose(mixing[np.ix_([0, 2], [0, 2])], w.numpy(), rtol=1e-6)


def test_fedsa_lora():
    ys, _, initial = trained("fedsa_lora")
    fed = run_round_one("fedsa_lora")
    lora_a = fed.algorithm.info.lora_a
    avg = {k: (ys[0][k] + ys[2][k]) / 2 for k in lora_a}  # equal weights over the returned
    for k in lora_a:
        for c in (0, 2):
            close(fed.states[c].params[k], avg[k])
        close(fed.states[1].params[k], ys[1][k])
        assert fed.states[3].params[k].equal(initial[k])
        close(fed.algorithm.catch_up(3, fed.states[3])[k], avg[k])
    for k in fed.algorithm.info.lora_b + fed.algorithm.info.head:
        close(fed.states[0].params[k], ys[0][k])  # B and head stay local


def test_local():
    ys, _, initial = trained("local")
    fed = run_round_one("local")
    for c in (0, 1, 2):
        for k in initial:
            close(fed.states[c].params[k], ys[c][k])
    assert all(fed.states[3].params[k].equal(initial[k]) for k in initial)  # not asked: did not train
    trained_rows = fed.metrics_frame().query("split == 'train'")
    assert sorted(trained_rows["client"]) == [0, 1, 2]


def test_centralized_ignores_participation():
    fed = make_federation("centralized", n_clients=4, participation={"fraction": 0.25, "dropout": 0.5})
    assert not ALGORITHMS["centralized"].samples_clients and fed.participation.full
    assert fed.participation.plan(1).returned == (0, 1, 2, 3)


def test_every_algorithm_has_a_test_here():
    tested = {name[len("test_") :] for name in globals() if name.startswith("test_")}
    assert set(ALGORITHMS) <= tested | {"centralized"}


def test_a_plugin_without_partial_rules_fails_clearly_only_under_partial_participation():
    from fhbench.algorithms.base import Algorithm

    class FullOnly(Algorithm):
        name = "full_only"

        def upload(self, client, state):
            return state.params

        def aggregate(self, uploads):
            return [uploads[0]] * len(uploads)

        def download(self, client, state, message):
            pass

    with pytest.raises(NotImplementedError, match="defines aggregate .* but not aggregate_returned"):
        FullOnly().aggregate_returned((0,), [{}])
    assert FullOnly().aggregate([{"a": torch.ones(1)}]) == [{"a": torch.ones(1)}]
