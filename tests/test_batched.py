"""The batched multi-client engine gives the sequential engine's results (fhbench.batched)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fhbench.algorithms import ALGORITHMS
from fhbench.algorithms.base import Algorithm
from fhbench.algorithms.fedavg import FedAvg
from fhbench.batched import BatchedTrainer, ClientLinears, NotBatchable, batched_trainer
from fhbench.client_round import ClientRound
from fhbench.federation import Federation, RunConfig
from fhbench.partition import partition_prepared

BATCH = 8


@pytest.fixture(scope="module")
def ragged_split(demo_organamnist, tmp_path_factory):
    """Five Dirichlet clients: different training sizes, ragged last batches."""
    out = tmp_path_factory.mktemp("split") / "dirichlet.json"
    partition_prepared(demo_organamnist, out, "dirichlet", n_clients=5, alpha=0.5, datapercent=1.0, seed=3)
    return out


def make_engine(algorithm: str, engine: str, demo, split, model_dir, **overrides) -> Federation:
    values = dict(
        dataset="organamnist",
        partition="dirichlet",
        algorithm=algorithm,
        seed=0,
        backbone="vit_tiny",
        architecture="vit",
        rounds=3,
        lr=0.05,
        batch_size=BATCH,
        eval_every=1,
        eval_batch_size=64,
        lora={"rank": 4, "alpha": 8, "dropout": 0.0},
        engine=engine,
    )
    values.update(overrides)
    return Federation(RunConfig(**values), demo, split, model_dir, log=lambda msg: None)


def run_both(algorithm, demo, split, model_dir, **overrides):
    engines = {}
    for kind in ("sequential", "batched"):
        engines[kind] = make_engine(algorithm, kind, demo, split, model_dir, **overrides)
        assert engines[kind].run() == "completed"
    return engines["sequential"], engines["batched"]


def assert_same_results(seq: Federation, bat: Federation) -> None:
    a, b = seq.metrics_frame(), bat.metrics_frame()
    key = ["round", "client", "split", "metric"]
    assert a[key].equals(b[key])  # same rows in the same order
    np.testing.assert_allclose(a["value"].to_numpy(), b["value"].to_numpy(), rtol=1e-4, atol=1e-5)
    for s, t in zip(seq.states, bat.states):
        for name in s.params:
            torch.testing.assert_close(s.params[name], t.params[name], rtol=1e-4, atol=1e-5)


def test_fixture_is_ragged(demo_organamnist, ragged_split, tiny_vit_dir):
    """The equality tests below only mean something if clients differ in steps and last-batch size."""
    engine = make_engine("fedavg", "batched", demo_organamnist, ragged_split, tiny_vit_dir)
    sizes = [len(c.train) for c in engine.clients]
    assert len({-(-n // BATCH) for n in sizes}) > 1  # different numbers of steps
    assert any(n % BATCH for n in sizes)  # a partial last batch
    assert engine.batched is not None  # fedavg on ViT really runs batched


def count_training_paths(monkeypatch) -> Counter:
    """Counts client-rounds trained one by one (ClientRound.train) and together (BatchedTrainer)."""
    calls: Counter = Counter()
    train, train_group = ClientRound.train, BatchedTrainer._train_group

    def sequential(self, *args, **kwargs):
        calls["sequential"] += 1
        return train(self, *args, **kwargs)

    def batched(self, clients, round_):
        calls["batched"] += len(clients)
        return train_group(self, clients, round_)

    monkeypatch.setattr(ClientRound, "train", sequential)
    monkeypatch.setattr(BatchedTrainer, "_train_group", batched)
    return calls


@pytest.mark.parametrize("algorithm", ["fedavg", "epfl"])
def test_batched_equals_sequential(algorithm, demo_organamnist, ragged_split, tiny_vit_dir, monkeypatch):
    calls = count_training_paths(monkeypatch)
    seq, bat = run_both(algorithm, demo_organamnist, ragged_split, tiny_vit_dir)
    # 5 clients x 3 rounds each way: the batched run really trained batched (no silent fallback).
    assert calls == {"sequential": 15, "batched": 15}
    assert_same_results(seq, bat)
    # Training moved the tensors: equal results are not equal no-ops.
    init = make_engine(algorithm, "sequential", demo_organamnist, ragged_split, tiny_vit_dir).states[0].params
    assert any(not torch.allclose(init[n], bat.states[0].params[n]) for n in init)


def test_batched_groups_and_epochs(demo_organamnist, ragged_split, tiny_vit_dir):
    """Clients stepped in groups of two, over two local epochs, still match."""
    seq, bat = run_both("fedavg", demo_organamnist, ragged_split, tiny_vit_dir, rounds=2, local_epochs=2, batched_clients=2)
    assert bat.batched.group_size == 2
    assert_same_results(seq, bat)


@pytest.mark.parametrize("algorithm", ["fedavg", "epfl"])
def test_batched_trains_only_the_asked_clients_as_the_sequential_engine(algorithm, demo_organamnist, ragged_split, tiny_vit_dir):
    """Partial participation with dropout (fhbench.participation): the batched engine steps the asked clients only."""
    participation = {"count": 2, "dropout": 0.3}
    seq, bat = run_both(algorithm, demo_organamnist, ragged_split, tiny_vit_dir, rounds=3, batched_clients=2, participation=participation)
    assert bat.batched is not None
    assert_same_results(seq, bat)
    part = seq.participation.frame()
    assert (part.groupby("round")["selected"].sum() == 2).all() and part["returned"].sum() < part["selected"].sum()


def test_plain_training_flag():
    """The engine chooses per algorithm through a capability, inferred from local_update."""
    assert FedAvg.supports_batched_training() and ALGORITHMS["epfl"].supports_batched_training()

    @dataclass
    class WithLossTerm(FedAvg):
        def local_update(self, client, state, trainer):
            return trainer.train(state.params, loss_term=lambda params: 0.0 * sum(p.sum() for p in params.values()))

    assert not WithLossTerm.supports_batched_training()
    WithLossTerm.plain_local_training = True  # an override may declare itself plain
    assert WithLossTerm.supports_batched_training()
    assert Algorithm.supports_batched_training()


def test_non_plain_algorithm_falls_back(demo_organamnist, ragged_split, tiny_vit_dir, monkeypatch):
    monkeypatch.setattr(ALGORITHMS["fedavg"], "plain_local_training", False)
    messages = []
    config = RunConfig(
        dataset="organamnist",
        partition="dirichlet",
        algorithm="fedavg",
        seed=0,
        backbone="vit_tiny",
        architecture="vit",
        rounds=1,
        lr=0.05,
        batch_size=BATCH,
        engine="batched",
    )
    engine = Federation(config, demo_organamnist, ragged_split, tiny_vit_dir, log=messages.append)
    assert engine.batched is None
    assert any("one after another" in m for m in messages)


def test_client_linears_match_per_client_linear():
    """The batched forward of one Linear equals applying each client's weights to its own rows."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 3))
    trainable = dict(model.named_parameters())
    linears = ClientLinears(model, trainable)
    weight, bias = torch.randn(4, 3, 6), torch.randn(4, 3)
    x = torch.randn(4 * 5, 7, 6)
    with linears.installed():
        linears.current = {"0.weight": weight, "0.bias": bias}
        y = model(x)
    expected = torch.cat([torch.nn.functional.linear(x[5 * c : 5 * c + 5], weight[c], bias[c]) for c in range(4)])
    torch.testing.assert_close(y, expected)
    assert "forward" not in model[0].__dict__  # the class forward is restored


@pytest.mark.parametrize("engine", ["sequential", "batched"])
def test_divergence_is_detected(engine, demo_organamnist, ragged_split, tiny_vit_dir):
    """Losses are checked once per pass (no per-batch sync), and a blow-up still stops the run."""
    run = make_engine("fedavg", engine, demo_organamnist, ragged_split, tiny_vit_dir, lr=1e12, rounds=3)
    assert run.run() == "diverged"


def test_first_step_is_logged_once(demo_organamnist, ragged_split, tiny_vit_dir):
    """benchmarks/startup.py times process start to this line."""
    messages = []
    config = RunConfig(
        dataset="organamnist",
        partition="dirichlet",
        algorithm="fedavg",
        seed=0,
        backbone="vit_tiny",
        architecture="vit",
        rounds=2,
        lr=0.05,
        batch_size=BATCH,
        engine="batched",
    )
    Federation(config, demo_organamnist, ragged_split, tiny_vit_dir, log=messages.append).run()
    assert sum("first training step done at unix time" in m for m in messages) == 1


def test_engine_is_configured_and_validated(repo):
    import yaml

    from fhbench.config import validate_config
    from fhbench.grid import all_runs, resolve_run_config

    config = yaml.safe_load((repo / "config" / "demo.yaml").read_text())
    config["training"]["engine"] = "batched"
    config["training"]["batched_clients"] = 4
    validate_config(config)
    run = resolve_run_config(config, all_runs(config)[0])
    assert (run["engine"], run["batched_clients"], run["precision"]) == ("batched", 4, "fp32")
    assert RunConfig.from_dict(run).engine == "batched"
    config["training"]["engine"] = "fast"
    with pytest.raises(ValueError, match="training.engine"):
        validate_config(config)
    with pytest.raises(ValueError, match="engine"):
        RunConfig.from_dict(dict(run, engine="fast"))


def test_client_linears_refuse_trainable_tensors_outside_a_linear_weight_or_bias():
    """Only a Linear's weight and bias can be stacked per client; anything else (a trainable
    LayerNorm, an extra tensor registered on a Linear) must be refused, not silently shared."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    with pytest.raises(NotBatchable, match="1.weight"):
        ClientLinears(model, dict(model.named_parameters()))
    linear = torch.nn.Sequential(torch.nn.Linear(4, 3))
    linear[0].register_parameter("scale", torch.nn.Parameter(torch.ones(3)))
    with pytest.raises(NotBatchable, match="0.scale"):
        ClientLinears(linear, dict(linear.named_parameters()))


def test_fallbacks_to_sequential_training_log_why():
    """batched_trainer returns None (train sequentially) with a log line that gives the reason:
    the algorithm's capability flag, or the NotBatchable reason of the model."""
    messages: list[str] = []
    config = SimpleNamespace(algorithm="apfl", batched_clients=0)
    engine = SimpleNamespace(algorithm=SimpleNamespace(supports_batched_training=lambda: False), config=config, log=messages.append)
    assert batched_trainer(engine) is None
    (line,) = messages
    assert "algorithm apfl does not train plainly (supports_batched_training() is false)" in line
    assert line.endswith("its clients train one after another")

    messages.clear()
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    engine = SimpleNamespace(
        algorithm=SimpleNamespace(supports_batched_training=lambda: True),
        shared=SimpleNamespace(model=model, trainable=dict(model.named_parameters())),
        clients=[0, 1],
        config=config,
        log=messages.append,
    )
    assert batched_trainer(engine) is None
    (line,) = messages
    assert "1.weight belongs to a LayerNorm" in line and line.endswith("clients train one after another")


def test_train_round_without_a_client_list_trains_every_client(demo_organamnist, ragged_split, tiny_vit_dir):
    """train_round's default (no list) is every client of the run, trained exactly as when all
    of them are named."""
    every = make_engine("fedavg", "batched", demo_organamnist, ragged_split, tiny_vit_dir, rounds=1)
    named = make_engine("fedavg", "batched", demo_organamnist, ragged_split, tiny_vit_dir, rounds=1)
    losses = every.batched.train_round(1)
    expected = named.batched.train_round(1, list(range(len(named.clients))))
    assert sorted(losses) == list(range(len(every.clients))) == sorted(expected)
    assert losses == pytest.approx(expected)
    for s, t in zip(every.states, named.states):
        for name in s.params:
            torch.testing.assert_close(s.params[name], t.params[name])


def test_client_missing_a_trainable_tensor_is_not_batchable(demo_organamnist, ragged_split, tiny_vit_dir):
    """Every client must hold every trainable tensor to be stacked; one that lacks one is named
    (NotBatchable), not a KeyError from deep inside the step."""
    engine = make_engine("fedavg", "batched", demo_organamnist, ragged_split, tiny_vit_dir, rounds=1)
    del engine.states[1].params[next(iter(engine.shared.trainable))]
    with pytest.raises(NotBatchable, match="client 1 does not hold"):
        engine.batched.train_round(1)


def test_batched_training_runs_the_model_in_training_mode(demo_organamnist, ragged_split, tiny_vit_dir):
    """Dropout is drawn while the batched engine trains (training mode, as in the sequential
    engine): LoRA dropout 0.5 trains other tensors than dropout 0 from the same start."""
    trained = {}
    for p in (0.0, 0.5):
        engine = make_engine(
            "fedavg", "batched", demo_organamnist, ragged_split, tiny_vit_dir, rounds=1, lora={"rank": 4, "alpha": 8, "dropout": p}
        )
        initial = {n: t.clone() for n, t in engine.states[0].params.items()}
        engine.batched.train_round(1)
        trained[p] = (initial, engine.states[0].params)
    for name in trained[0.0][0]:
        torch.testing.assert_close(trained[0.0][0][name], trained[0.5][0][name])  # the same start
    assert any(not torch.allclose(trained[0.0][1][n], trained[0.5][1][n]) for n in trained[0.0][1])
