"""FedSA-LoRA (Guo et al., "Selective Aggregation for Low-Rank Adaptation in Federated
Learning", ICLR 2025).

Uploaded: each client's LoRA A matrices. Server: their plain average. Downloaded: that
average, which replaces every client's A. Kept local: the B matrices and the head.

This is EPFL's ``weights="uniform"`` variant with self weight λ = 1/N (every client, itself
included, weighs 1/N), given its own name because readers know it as a published baseline.
FedSA-LoRA averages like FedAvg; FHBench clients all hold the same number of samples, so the
plain and the size-weighted average coincide there. The head stays local as in EPFL, so that
the comparison with EPFL isolates the mixing weights.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhbench.algorithms.base import Algorithm, ClientState, Tensors, copy_into
from fhbench.algorithms.epfl import uniform_weights


@dataclass
class FedSALoRA(Algorithm):
    name = "fedsa_lora"

    def upload(self, client: int, state: ClientState) -> Tensors:
        return {k: state.params[k] for k in self.info.lora_a}

    def aggregate(self, uploads: list[Tensors]) -> list[Tensors]:
        n = len(uploads)
        w = uniform_weights(n, self_weight=1.0 / n)  # every entry 1/N
        average = {k: sum(w[0, j].item() * uploads[j][k] for j in range(n)) for k in self.info.lora_a}
        return [average] * n

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        copy_into(state.params, message)
