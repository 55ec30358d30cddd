"""Partial participation: seeded plans, the engine's hook, participation.csv, resume, bad settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fhbench.algorithms import ALGORITHMS
from fhbench.errors import ConfigError
from fhbench.participation import Participation, ParticipationSpec, RoundPlan, round_plan
from tests.algorithms.conftest import make_federation

NAMES = sorted(ALGORITHMS)


# --------------------------------------------------------------------------- plans


@pytest.mark.parametrize(
    "settings, n_clients, asked",
    [
        ({}, 20, 20),
        ({"fraction": 1.0}, 20, 20),
        ({"fraction": 0.5}, 20, 10),
        ({"fraction": 0.2}, 20, 4),
        ({"fraction": 0.1}, 20, 2),
        ({"fraction": 0.01}, 20, 1),  # at least one
        ({"fraction": 0.29}, 100, 29),  # 0.29 · 100 is 28.999… in floating point
        ({"count": 2}, 20, 2),
        ({"count": 20}, 20, 20),
    ],
)
def test_clients_asked_per_round(settings, n_clients, asked):
    spec = ParticipationSpec.from_config(settings)
    assert spec.asked(n_clients) == asked
    plan = round_plan(spec, seed=0, round_=3, n_clients=n_clients)
    assert len(plan.selected) == asked and list(plan.selected) == sorted(set(plan.selected))
    assert plan.returned == plan.selected  # no dropout


def test_plans_are_drawn_from_seed_and_round_only():
    spec = ParticipationSpec.from_config({"fraction": 0.2, "dropout": 0.3})
    a = [round_plan(spec, 7, r, 20) for r in range(1, 30)]
    b = [round_plan(spec, 7, r, 20) for r in reversed(range(1, 30))][::-1]  # asked in another order
    assert a == b
    c = [round_plan(spec, 8, r, 20) for r in range(1, 30)]
    assert [p.selected for p in a] != [p.selected for p in c]
    assert len({p.selected for p in a}) > 20  # rounds differ


def test_selection_is_uniform_and_dropout_has_its_rate():
    # 2000 rounds of 4 of 20 clients: each client is asked 400 times in expectation (binomial sd ≈ 18);
    # 8000 asked clients drop with p = 0.1: 800 expected (sd ≈ 27). Bounds at 5 sd; the draw is seeded.
    spec = ParticipationSpec.from_config({"fraction": 0.2, "dropout": 0.1})
    plans = [round_plan(spec, 0, r, 20) for r in range(1, 2001)]
    asked = np.bincount([c for p in plans for c in p.selected], minlength=20)
    assert np.all(np.abs(asked - 400) < 5 * 18)
    dropped = sum(len(p.selected) - len(p.returned) for p in plans)
    assert abs(dropped - 800) < 5 * 27
    assert all(set(p.returned) <= set(p.selected) for p in plans)


def test_full_participation_draws_nothing():
    plan = round_plan(ParticipationSpec(), 0, 1, 5)
    assert plan == RoundPlan(1, (0, 1, 2, 3, 4), (0, 1, 2, 3, 4))
    assert ParticipationSpec.from_config({"fraction": 1.0, "dropout": 0.0}).is_full(5)


@pytest.mark.parametrize(
    "settings, culprit",
    [
        ({"fraction": 0}, "training.participation.fraction"),
        ({"fraction": 1.5}, "training.participation.fraction"),
        ({"fraction": -0.1}, "training.participation.fraction"),
        ({"count": 0}, "training.participation.count"),
        ({"count": 2.5}, "training.participation.count"),
        ({"dropout": 1.0}, "training.participation.dropout"),
        ({"dropout": -0.1}, "training.participation.dropout"),
        ({"fraction": 0.5, "count": 2}, "training.participation: give fraction or count"),
        ({"share": 0.5}, "training.participation.share"),
    ],
)
def test_bad_settings_name_the_key(settings, culprit):
    with pytest.raises(ConfigError, match=culprit.replace(".", r"\.")):
        ParticipationSpec.from_config(settings)


def test_count_above_the_clients_names_the_key():
    with pytest.raises(ConfigError, match=r"training\.participation\.count: 21 clients asked per round, but only 20"):
        ParticipationSpec.from_config({"count": 21}).asked(20)


def test_staleness_follows_the_rounds_a_client_received_and_replays():
    part = Participation(ParticipationSpec.from_config({"count": 1}), seed=0, n_clients=3)
    part.round_done(RoundPlan(1, (0,), (0,)))
    assert not part.is_stale(0) and part.is_stale(1) and part.is_stale(2)
    part.round_done(RoundPlan(2, (1,), ()))  # nobody returned: the server did not change
    assert not part.is_stale(0)
    replayed = Participation(part.spec, seed=0, n_clients=3)
    replayed.replay(4)
    original = Participation(part.spec, seed=0, n_clients=3)
    for r in range(1, 5):
        original.round_done(original.plan(r))
    assert replayed.client_version == original.client_version and replayed.server_version == original.server_version


# --------------------------------------------------------------------------- the engine


@pytest.mark.parametrize("algorithm", NAMES)
def test_fraction_one_and_no_dropout_give_the_results_without_the_option(algorithm):
    plain = make_federation(algorithm, n_clients=4, rounds=3)
    assert plain.run() == "completed"
    for settings in ({"fraction": 1.0, "dropout": 0.0}, {"count": 4}):
        explicit = make_federation(algorithm, n_clients=4, rounds=3, participation=settings)
        assert explicit.run() == "completed"
        assert plain.metrics_frame().equals(explicit.metrics_frame())
        for a, b in zip(plain.states, explicit.states):
            assert all(a.params[k].equal(b.params[k]) for k in a.params)


def partial(algorithm: str, **kw):
    return make_federation(algorithm, n_clients=5, rounds=4, participation={"fraction": 0.4, "dropout": 0.3}, **kw)


@pytest.mark.parametrize("algorithm", sorted(set(NAMES) - {"centralized"}))
def test_only_asked_clients_train_and_only_returned_ones_upload(algorithm):
    fed = partial(algorithm)
    assert fed.run() == "completed"
    rows = fed.metrics_frame()
    part = fed.participation.frame()
    assert len(part) == 4 * 5 and list(part.columns) == ["round", "client", "selected", "returned"]
    assert (part["selected"] == 0).any() and ((part["selected"] == 1) & (part["returned"] == 0)).any()  # the fixture has both
    trained = rows[(rows.split == "train") & (rows.metric == "loss")][["round", "client"]]
    asked = part[part.selected == 1][["round", "client"]]
    assert sorted(map(tuple, trained.to_numpy())) == sorted(map(tuple, asked.to_numpy()))
    uploads = rows[(rows.split == "comm") & (rows.metric == "upload_bytes")].merge(part, on=["round", "client"])
    assert (uploads["selected"] == 1).all()  # comm rows only for asked clients
    if ALGORITHMS[algorithm].upload is not ALGORITHMS["local"].upload:
        assert ((uploads["value"] > 0) == (uploads["returned"] == 1)).all()  # a lost upload counts no bytes
    scored = rows[(rows.split == "test") & (rows.metric == "accuracy")]
    assert scored.groupby("round")["client"].nunique().eq(5).all()  # every client scored at evaluation rounds


def test_centralized_pools_every_round_whatever_the_settings():
    fed = partial("centralized")
    assert fed.run() == "completed"
    assert fed.participation.frame()[["selected", "returned"]].eq(1).all().all()
    plain = make_federation("centralized", n_clients=5, rounds=4)
    plain.run()
    assert plain.metrics_frame().equals(fed.metrics_frame())


@pytest.mark.parametrize("algorithm", ["fedavg", "scaffold", "apple", "epfl", "fedsa_lora"])
def test_stale_clients_download_the_catch_up_message(algorithm):
    fed = make_federation(algorithm, n_clients=3, rounds=2, participation={"count": 1})
    fed.participation.plan = lambda r: RoundPlan(r, (0,), (0,)) if r == 1 else RoundPlan(r, (1,), (1,))
    fed.run()
    comm = fed.metrics_frame().query("split == 'comm'").set_index(["round", "client", "metric"])["value"]
    from fhbench.federation import tensor_bytes

    # Round 2: client 1 missed round 1's message; it downloads the catch-up and the round's message.
    catch_up = tensor_bytes(fed.algorithm.catch_up(1, fed.states[1]))
    round_message = comm[(1, 0, "download_bytes")]
    assert comm[(2, 1, "download_bytes")] == catch_up + round_message
    assert (2, 0, "download_bytes") not in comm.index  # client 0 was not asked in round 2


def test_a_round_where_nobody_returns_changes_no_server_state():
    fed = make_federation("fedavg", n_clients=3, rounds=1, participation={"count": 2, "dropout": 0.5})
    fed.participation.plan = lambda r: RoundPlan(r, (0, 1), ())
    before = {k: v.clone() for k, v in fed.algorithm.global_model.items()}
    assert fed.run() == "completed"
    assert all(fed.algorithm.global_model[k].equal(before[k]) for k in before)
    assert fed.participation.server_version == 0


@pytest.mark.parametrize("algorithm", NAMES)
def test_partial_run_resumed_from_its_checkpoint_ends_identical(algorithm, tmp_path):
    whole = partial(algorithm)
    assert whole.run() == "completed"
    interrupted = partial(algorithm)
    for r in (1, 2):
        interrupted.run_round(r)
    interrupted.save_checkpoint(tmp_path, 2)
    resumed = partial(algorithm)  # a fresh process: new model, new states, no bookkeeping
    assert resumed.run(tmp_path) == "completed" and resumed.start_round == 3
    assert whole.metrics_frame().equals(resumed.metrics_frame())
    assert whole.participation.frame().equals(resumed.participation.frame())


def test_participation_csv_is_written_beside_the_metrics(tmp_path, demo_organamnist, tiny_vit_dir):
    from fhbench.federation import run_federation
    from fhbench.io import write_json
    from fhbench.partition import make_partition
    from tests.test_federation import config

    labels = np.load(demo_organamnist / "labels.npy")
    split = tmp_path / "split.json"
    write_json(split, make_partition(labels, "fhbench", 5, 0.5, 1.0, 2025).to_json(labels.astype(int).ravel()))
    out = tmp_path / "run" / "metrics.csv"
    settings = {"fraction": 0.4, "dropout": 0.2}
    assert run_federation(config(participation=settings, rounds=3), demo_organamnist, split, tiny_vit_dir, out) == "completed"
    part = pd.read_csv(out.with_name("participation.csv"))
    spec = ParticipationSpec.from_config(settings)
    plans = [round_plan(spec, 0, r, 5) for r in (1, 2, 3)]
    expected = [(p.round, c, int(c in p.selected), int(c in p.returned)) for p in plans for c in range(5)]
    assert list(part.itertuples(index=False, name=None)) == expected
