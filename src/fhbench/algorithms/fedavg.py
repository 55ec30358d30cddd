"""FedAvg (McMahan et al., AISTATS 2017).

Uploaded: every trained tensor (LoRA A and B, head). Server: the average weighted by client
training-set size. Downloaded: that average, which replaces the client's tensors. Kept local:
nothing beyond the tensors being trained.

Partial participation (the paper's Algorithm 1 with client fraction C): the server averages the
clients that returned, weighted by their training-set sizes, and keeps the result as the global
model w; only they receive it. A client asked after missing rounds first downloads the current w.
A hospital joining after training is served w as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fhbench.algorithms.base import Algorithm, ClientState, Tensors, clone, weighted_mean


@dataclass
class FedAvg(Algorithm):
    name = "fedavg"

    def setup(self, info) -> None:
        super().setup(info)
        self.global_model: Tensors | None = None  # w, kept by the server

    def init_client(self, client: int, initial: Tensors) -> ClientState:
        if self.global_model is None:  # every client starts from the same tensors: that is w⁰
            self.global_model = clone(initial)
        return super().init_client(client, initial)

    def upload(self, client: int, state: ClientState) -> Tensors:
        return state.params

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        self.global_model = weighted_mean(uploads, [self.info.train_sizes[c] for c in returned])
        return [self.global_model] * len(uploads)

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        for key, value in message.items():
            state.params[key].copy_(value)

    def catch_up(self, client: int, state: ClientState) -> Tensors:
        return self.global_model

    def newcomer_trains(self) -> bool:
        return False

    def newcomer_state(self, initial: Tensors) -> ClientState:
        return ClientState(params=clone(self.global_model))

    def server_state(self) -> dict:
        return {"global": self.global_model}

    def load_server_state(self, state: dict) -> None:
        self.global_model = state["global"]
