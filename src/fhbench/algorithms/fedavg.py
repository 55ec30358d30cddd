"""FedAvg (McMahan et al., AISTATS 2017).

Uploaded: every trained tensor (LoRA A and B, head). Server: the average weighted by client
training-set size. Downloaded: that average, which replaces the client's tensors. Kept local:
nothing beyond the tensors being trained.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhbench.algorithms.base import Algorithm, ClientState, Tensors, weighted_mean


@dataclass
class FedAvg(Algorithm):
    name = "fedavg"

    def upload(self, client: int, state: ClientState) -> Tensors:
        return state.params

    def aggregate(self, uploads: list[Tensors]) -> list[Tensors]:
        average = weighted_mean(uploads, list(self.info.train_sizes))
        return [average] * len(uploads)

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        for key, value in message.items():
            state.params[key].copy_(value)
