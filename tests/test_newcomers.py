"""Unseen clients: held out of training, served at the end what each method gives a hospital that joins."""

from __future__ import annotations

import pytest
import torch

from fhbench.algorithms import ALGORITHMS
from fhbench.errors import InputError
from fhbench.newcomers import NEWCOMER, unseen_clients
from fhbench.participation import RoundPlan
from tests.algorithms.conftest import make_federation, snapshot

NAMES = sorted(ALGORITHMS)
GLOBAL = {"fedavg", "fedprox", "scaffold", "ffa_lora", "centralized"}  # served as they are


def held_out(algorithm: str, n_clients: int = 4, rounds: int = 2, **kw):
    """A federation of ``n_clients`` whose last client is unseen."""
    fed = make_federation(algorithm, n_clients=n_clients, rounds=rounds, **kw)
    assert fed.newcomers == []
    # Rebuild with the last client marked unseen (make_federation builds splits without the flag).
    from fhbench.federation import Federation
    from tests.algorithms.conftest import TinyLoraNet, batch_inputs

    split = [{s: getattr(c, s).tolist() for s in ("train", "val", "test")} for c in fed.clients]
    split[-1]["unseen"] = True
    return Federation.from_tensors(
        fed.config, TinyLoraNet(rank=2, seed=fed.config.seed), batch_inputs, fed.inputs, fed.labels, split, log=lambda m: None
    )


def test_unseen_clients_must_come_last_and_leave_some_to_train():
    assert unseen_clients([{}, {}, {"unseen": True}]) == [2]
    with pytest.raises(InputError, match="do not all follow"):
        unseen_clients([{"unseen": True}, {}])
    with pytest.raises(InputError, match="none trains"):
        unseen_clients([{"unseen": True}])


@pytest.mark.parametrize("algorithm", NAMES)
def test_unseen_client_never_trains_and_is_scored_once_at_the_end(algorithm):
    fed = held_out(algorithm)
    assert len(fed.clients) == 3 and [c for c, _ in fed.newcomers] == [3]
    assert fed.algorithm.info.n_clients == 3 and len(fed.algorithm.info.train_sizes) == 3
    assert fed.run() == "completed"
    rows = fed.metrics_frame()
    newcomer = rows[rows.client == 3]
    assert set(newcomer["eval_point"]) == {NEWCOMER} and set(newcomer["round"]) == {2}
    assert set(newcomer["split"]) == {"val", "test"} and len(newcomer) == 8  # 4 metrics (3 scores and the loss) × 2 parts
    assert newcomer["value"].notna().all()
    assert (rows[rows.client != 3]["eval_point"] != NEWCOMER).all()
    # The same run without the newcomer: participating rows identical, as if it never existed.
    plain = make_federation(algorithm, n_clients=3, rounds=2)
    plain.inputs, plain.labels = fed.inputs, fed.labels
    assert plain.run() == "completed"
    assert plain.metrics_frame().equals(rows[rows.client != 3].reset_index(drop=True))


@pytest.mark.parametrize("algorithm", NAMES)
def test_newcomer_rows_repeat(algorithm):
    a, b = held_out(algorithm), held_out(algorithm)
    a.run(), b.run()
    assert a.metrics_frame().equals(b.metrics_frame())


def served(fed):
    """The newcomer's state before any adaptation, and whether the method adapts it."""
    return fed.algorithm.newcomer_state(fed.initial), fed.algorithm.newcomer_trains()


@pytest.mark.parametrize("algorithm", ["fedavg", "fedprox", "ffa_lora"])
def test_global_methods_serve_the_global_model(algorithm):
    fed = held_out(algorithm)
    fed.run()
    state, trains = served(fed)
    assert not trains
    for k, v in fed.algorithm.global_model.items():
        assert torch.equal(state.params[k], v)
    # The newcomer's rows are exactly the global model's scores on its parts.
    rows = fed.metrics_frame().query("client == 3 and split == 'test' and metric == 'accuracy'")
    data = fed.newcomers[0][1]
    pred = fed.shared.predict(fed.algorithm.eval_params(3, state), fed.inputs[data.test], 64)
    assert rows["value"].iloc[0] == pytest.approx((pred == fed.labels[data.test].numpy()).mean())


def test_scaffold_serves_x_and_centralized_the_pooled_model():
    fed = held_out("scaffold")
    fed.run()
    state, trains = served(fed)
    assert not trains and all(torch.equal(state.params[k], fed.algorithm.x[k]) for k in state.params)
    fed = held_out("centralized")
    fed.run()
    state, trains = served(fed)
    assert not trains and state.params is fed.states[0].params


def test_ffa_lora_with_a_local_head_adapts():
    fed = held_out("ffa_lora", params={"share_head": False})
    fed.run()
    state, trains = served(fed)
    assert trains
    for k in fed.algorithm.info.lora_b:
        assert torch.equal(state.params[k], fed.algorithm.global_model[k])
    for k in fed.algorithm.info.head:
        assert torch.equal(state.params[k], fed.initial[k])


def test_epfl_newcomer_applies_the_uniform_rule_to_the_a_every_client_received():
    fed = held_out("epfl", rounds=2)
    fed.run()
    state, trains = served(fed)
    assert trains
    info, lam = fed.algorithm.info, fed.algorithm.self_weight
    for k in info.lora_a:
        mean_a = sum(s.params[k] for s in fed.states) / 3  # full participation: each holds the A it received
        torch.testing.assert_close(state.params[k], lam * fed.initial[k] + (1 - lam) * mean_a)
    for k in info.lora_b + info.head:
        assert torch.equal(state.params[k], fed.initial[k])  # no B yet, and the server never sees a head


def test_fedsa_lora_newcomer_takes_the_global_a():
    fed = held_out("fedsa_lora")
    fed.run()
    state, trains = served(fed)
    assert trains
    for k in fed.algorithm.info.lora_a:
        assert torch.equal(state.params[k], fed.states[0].params[k])  # every client holds the global A
    for k in fed.algorithm.info.lora_b + fed.algorithm.info.head:
        assert torch.equal(state.params[k], fed.initial[k])


def test_apfl_newcomer_starts_w_and_v_at_the_global_w():
    fed = held_out("apfl")
    fed.run()
    state, trains = served(fed)
    assert trains and state.extra["alpha"] == fed.algorithm.alpha_init
    for k, w in fed.algorithm.global_model.items():
        assert torch.equal(state.params[k], w) and torch.equal(state.extra["v"][k], w)


def test_apple_newcomer_is_client_n_plus_one():
    fed = held_out("apple")
    fed.run()
    state, trains = served(fed)
    assert trains and torch.equal(state.extra["p"], torch.full((4,), 0.25))
    assert sorted(state.extra["cores"]) == [0, 1, 2]
    for j in range(3):
        assert all(torch.equal(state.extra["cores"][j][k], fed.algorithm.cores[j][k]) for k in fed.initial)
    assert all(torch.equal(state.params[k], fed.initial[k]) for k in fed.initial)


def test_fedala_newcomer_starts_from_the_global_model():
    fed = held_out("fedala")
    fed.run()
    state, trains = served(fed)
    assert trains and state.extra.get("global") is None
    assert all(torch.equal(state.params[k], fed.algorithm.global_model[k]) for k in state.params)


def test_local_newcomer_starts_from_the_initial_tensors():
    fed = held_out("local")
    fed.run()
    state, trains = served(fed)
    assert trains and all(torch.equal(state.params[k], fed.initial[k]) for k in fed.initial)


@pytest.mark.parametrize("algorithm", sorted(set(NAMES) - GLOBAL))
def test_adaptation_is_one_round_of_the_method_at_the_dataset_learning_rate(algorithm):
    fed = held_out(algorithm, lr=0.1)
    fed.run()
    before = snapshot(fed.algorithm.newcomer_state(fed.initial).params)
    rows = fed.metrics_frame().query("client == 3 and split == 'val' and metric == 'accuracy'")
    # Redo by hand: the same state, one local update on the newcomer's training part, scored.
    from fhbench.client_round import ClientRound

    state = fed.algorithm.newcomer_state(fed.initial)
    trainer = ClientRound(fed, 3, fed.config.rounds + 1, data=fed.newcomers[0][1], lr=fed.config.lr)
    assert trainer.lr == 0.1
    fed.algorithm.local_update(3, state, trainer)
    assert any(not torch.equal(state.params[k], before[k]) for k in before)  # it did adapt
    data = fed.newcomers[0][1]
    pred = fed.shared.predict(fed.algorithm.eval_params(3, state), fed.inputs[data.val], 64)
    assert rows["value"].iloc[0] == pytest.approx((pred == fed.labels[data.val].numpy()).mean())


def test_newcomers_with_partial_participation():
    fed = held_out("fedavg", n_clients=5, rounds=3, participation={"count": 2, "dropout": 0.3})
    assert fed.participation.n_clients == 4
    assert fed.run() == "completed"
    assert (fed.participation.frame()["client"] < 4).all()
    assert (fed.metrics_frame().query("client == 4")["eval_point"] == NEWCOMER).all()


@pytest.mark.parametrize("algorithm", sorted(set(NAMES) - {"centralized"}))  # centralized pools every client each round
def test_a_newcomer_after_rounds_nobody_returned_from_starts_from_the_initial_tensors(algorithm):
    """No upload ever reached the server, so its shared state is still the initialisation
    (w⁰, A⁰, x⁰, the initial cores): whatever a method serves a hospital joining now is built
    from it and equals the initial tensors every training client started from."""
    fed = held_out(algorithm, participation={"count": 2, "dropout": 0.5})
    fed.participation.plan = lambda r: RoundPlan(r, (0, 1), ())
    assert fed.run() == "completed"
    state, _ = served(fed)
    for k, v in state.params.items():
        torch.testing.assert_close(v, fed.initial[k])


def test_epfl_newcomer_counts_a_client_that_never_received_a_mix_at_a0():
    """Under partial participation a client that never returned never received a mix: it still
    holds A⁰, and the newcomer's uniform rule averages that A⁰ with the A the others received."""
    fed = held_out("epfl", participation={"count": 1})
    fed.participation.plan = lambda r: RoundPlan(r, (0,), (0,))
    assert fed.run() == "completed"
    state, _ = served(fed)
    lam = fed.algorithm.self_weight
    for k in fed.algorithm.info.lora_a:
        assert torch.equal(fed.states[1].params[k], fed.initial[k]) and not torch.equal(fed.states[0].params[k], fed.initial[k])
        held = fed.states[0].params[k] + 2 * fed.initial[k]  # client 0's last mix; clients 1 and 2 hold A⁰
        torch.testing.assert_close(state.params[k], lam * fed.initial[k] + (1 - lam) * held / 3)
