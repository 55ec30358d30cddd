"""FedRep against numbers worked out by hand.

The local update runs on a trainer whose loss is ½‖θ − θ*‖² on every batch, so that each SGD
step moves a tensor a fixed share of the way to its target and the result can be written down.
Its ``train`` steps every tensor not in ``frozen``, as fhbench's engine does.
"""

from __future__ import annotations

import pytest
import torch
from fhbench_fedrep.fedrep import FedRep

from fhbench.algorithms.base import ClientState, FederationInfo

INFO = FederationInfo(
    n_clients=3,
    rounds=2,
    train_sizes=(4, 4, 8),  # unequal on purpose: FedRep's average ignores them
    param_names=("layer.lora_A", "layer.lora_B", "classifier.weight"),
    lora_a=("layer.lora_A",),
    lora_b=("layer.lora_B",),
    head=("classifier.weight",),
)


class QuadraticTrainer:
    """A LocalTrainer for a loss ½‖θ − target‖², the same on each of ``n_batches`` batches."""

    def __init__(self, target: dict[str, float], lr: float, n_batches: int, local_epochs: int = 1):
        self.target = {k: torch.tensor([v]) for k, v in target.items()}
        self.lr, self.n_batches, self.local_epochs = lr, n_batches, local_epochs
        self.round, self.steps = 1, 0
        self.frozen_in_train: list[set[str]] = []

    def batches(self, split: str = "train", fraction: float = 1.0):
        for _ in range(self.n_batches):
            yield torch.zeros(1), torch.zeros(1, dtype=torch.long)

    def loss_and_grads(self, params, inputs, labels):
        grads = {k: params[k] - self.target[k] for k in params}
        return float(sum(0.5 * (g**2).sum() for g in grads.values())), grads

    def train(self, params, loss_term=None, grad_hook=None, frozen=(), pooled=False) -> float:
        self.frozen_in_train.append(set(frozen))
        for _ in range(self.local_epochs * self.n_batches):
            _, grads = self.loss_and_grads(params, None, None)
            for k in params:
                if k not in frozen:
                    params[k].sub_(self.lr * grads[k])
            self.steps += 1
        return 0.0


def client(a: float, b: float, head: float) -> ClientState:
    values = {"layer.lora_A": a, "layer.lora_B": b, "classifier.weight": head}
    return ClientState(params={k: torch.tensor([v]) for k, v in values.items()})


def value(state: ClientState, key: str) -> float:
    return state.params[key].item()


def test_head_first_with_the_representation_fixed_then_the_representation_with_the_head_fixed():
    fedrep = FedRep(head_epochs=2)
    fedrep.setup(INFO)
    state = client(a=2.0, b=-1.0, head=1.0)
    trainer = QuadraticTrainer({"layer.lora_A": 1.0, "layer.lora_B": 1.0, "classifier.weight": 0.0}, lr=0.5, n_batches=2)
    fedrep.local_update(0, state, trainer)
    # Head: 2 epochs x 2 batches, each step halves its distance to 0: 1.0 * 0.5**4 = 0.0625.
    # It is not touched by the representation's epoch that follows.
    assert value(state, "classifier.weight") == pytest.approx(0.0625)
    # Representation: fixed during the head's 4 steps, then 1 epoch x 2 batches halving its distance to 1:
    # A: 1 + (2 - 1) * 0.25 = 1.25;  B: 1 + (-1 - 1) * 0.25 = 0.5.
    assert value(state, "layer.lora_A") == pytest.approx(1.25)
    assert value(state, "layer.lora_B") == pytest.approx(0.5)
    assert trainer.frozen_in_train == [{"classifier.weight"}]


def test_no_head_epochs_trains_only_the_representation():
    fedrep = FedRep(head_epochs=0)
    fedrep.setup(INFO)
    state = client(a=2.0, b=-1.0, head=1.0)
    fedrep.local_update(0, state, QuadraticTrainer({"layer.lora_A": 1.0, "layer.lora_B": 1.0, "classifier.weight": 0.0}, 0.5, 1))
    assert [value(state, k) for k in INFO.param_names] == pytest.approx([1.5, 0.0, 1.0])


def test_the_representation_is_averaged_plainly_and_the_heads_stay_local():
    fedrep = FedRep()
    fedrep.setup(INFO)
    states = [client(1.0, 2.0, 10.0), client(3.0, 4.0, 20.0), client(5.0, 9.0, 30.0)]
    uploads = [fedrep.upload(i, s) for i, s in enumerate(states)]
    assert all(set(u) == {"layer.lora_A", "layer.lora_B"} for u in uploads)  # the head is never sent
    messages = fedrep.aggregate(uploads)
    for i, (state, message) in enumerate(zip(states, messages)):
        fedrep.download(i, state, message)
    # A: (1 + 3 + 5) / 3 = 3; B: (2 + 4 + 9) / 3 = 5 (weighted by 4, 4, 8 it would be 3.5 and 6).
    assert [(value(s, "layer.lora_A"), value(s, "layer.lora_B")) for s in states] == [(3.0, 5.0)] * 3
    assert [value(s, "classifier.weight") for s in states] == [10.0, 20.0, 30.0]


def test_hyperparameters_are_its_dataclass_fields():
    assert FedRep.hyperparameters() == ["head_epochs"] and FedRep().head_epochs == 10
    assert FedRep.name == "fedrep" and not FedRep.supports_batched_training()
    with pytest.raises(ValueError, match="head_epochs"):
        FedRep(head_epochs=-1)
