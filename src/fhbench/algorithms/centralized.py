"""Centralized training: the pooled upper reference, not a federated method.

One model (same backbone, LoRA, head, batch size and learning-rate schedule as every run) is
trained on the union of all clients' training parts: each round is ``local_epochs`` shuffled
passes over the pooled data, so an epoch takes about as many steps as one round of all
clients together. It is scored on each client's own validation and test parts like any method.

Uploaded: nothing. Server: nothing. Downloaded: nothing (no data leaves anywhere in the
simulation; in reality the data itself would have been pooled). Kept: the one model, which
every client state refers to, so the per-client evaluation scores that model.

Partial participation does not apply (``samples_clients = False``): there are no clients to
sample, the pooled data is there every round, and every client counts as asked. A hospital
joining after training is served the pooled model as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fhbench.algorithms.base import Algorithm, ClientState, LocalTrainer, Tensors, clone


@dataclass
class Centralized(Algorithm):
    name = "centralized"
    samples_clients = False

    def init_client(self, client: int, initial: Tensors) -> ClientState:
        if client == 0:
            self._model = clone(initial)
        # Every client holds the same dict: training it once trains "every client's" model,
        # and a checkpoint (one pickle) keeps that sharing when it is loaded back.
        return ClientState(params=self._model)

    def local_update(self, client: int, state: ClientState, trainer: LocalTrainer) -> float:
        # The engine visits clients in order; the pooled epochs run once, at client 0.
        if client == 0:
            self._loss = trainer.train(state.params, pooled=True)
        return self._loss

    def upload(self, client: int, state: ClientState) -> Tensors:
        return {}

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        return [{} for _ in uploads]

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        pass

    def catch_up(self, client: int, state: ClientState) -> Tensors:
        return {}

    def newcomer_trains(self) -> bool:
        return False

    def newcomer_state(self, initial: Tensors) -> ClientState:
        return ClientState(params=self._model)
