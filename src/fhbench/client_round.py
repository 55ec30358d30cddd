"""One client's local training in one round, and the error a run stops with when it diverges.

The sequential engine (:mod:`fhbench.federation`) and the batched one (:mod:`fhbench.batched`)
both hand algorithms a :class:`ClientRound`; it lives here, below both, so that neither imports
the other at run time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Collection

import numpy as np
import torch

from fhbench.algorithms.base import Tensors
from fhbench.seeding import seed_torch, stream, stream_seed

if TYPE_CHECKING:
    from fhbench.federation import Federation


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


class ClientRound:
    """The :class:`~fhbench.algorithms.base.LocalTrainer` the engine hands an algorithm."""

    def __init__(self, engine: "Federation", client: int, round_: int, data=None, lr: float | None = None):
        """``data`` and ``lr`` serve a client outside the run's training clients (an unseen newcomer,
        :mod:`fhbench.newcomers`): its own parts, and a learning rate other than the round's."""
        self.engine, self.client, self.round = engine, client, round_
        self.data = engine.clients[client] if data is None else data
        self.lr = engine.config.lr_at(round_) if lr is None else lr
        self.local_epochs = engine.config.local_epochs
        self.steps = 0  # SGD steps taken by train() so far (SCAFFOLD's K)
        self.rng = stream(engine.config.seed, round_, client)
        seed_torch(stream_seed(engine.config.seed, round_, client))  # LoRA dropout draws

    def train(
        self,
        params: Tensors,
        loss_term: Callable | None = None,
        grad_hook: Callable | None = None,
        frozen: Collection[str] = (),
        pooled: bool = False,
    ) -> float:
        engine = self.engine
        # pooled: the union of every client's training part (the centralized reference).
        train = torch.cat([c.train for c in engine.clients]) if pooled else self.data.train
        losses = []
        for _ in range(engine.config.local_epochs):
            order = train[torch.as_tensor(self.rng.permutation(len(train)), device=train.device)]
            losses.append(
                engine.shared.sgd(
                    params, engine.inputs, engine.labels, order, engine.config.batch_size, self.lr, loss_term, grad_hook, frozen
                )
            )
            self.steps += math.ceil(len(order) / engine.config.batch_size)
        return float(np.mean(losses))

    def batches(self, split: str = "train", fraction: float = 1.0):
        """Shuffled (inputs, labels) batches of this client's data, for algorithms that need their own loop.

        ``fraction`` < 1 keeps a random subset of that size (at least one sample), drawn from
        this (round, client) stream: FedALA learns its weights on such a slice.
        """
        engine, idx = self.engine, getattr(self.data, split)
        order = idx[torch.as_tensor(self.rng.permutation(len(idx)), device=idx.device)]
        if fraction < 1.0:
            order = order[: max(1, int(fraction * len(order)))]
        for s in range(0, len(order), engine.config.batch_size):
            b = order[s : s + engine.config.batch_size]
            yield engine.inputs[b], engine.labels[b]

    def loss_and_grads(self, params: Tensors, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[float, Tensors]:
        """Loss of one batch at ``params`` and the gradient of every trainable tensor there."""
        return self.engine.shared.loss_and_grads(params, inputs, labels)
