"""FedSA-LoRA (Guo et al., "Selective Aggregation for Low-Rank Adaptation in Federated
Learning", ICLR 2025).

Uploaded: each client's LoRA A matrices. Server: their plain average. Downloaded: that
average, which replaces every client's A. Kept local: the B matrices and the head.

This is EPFL's ``weights="uniform"`` variant with self weight λ = 1/N (every client, itself
included, weighs 1/N), given its own name because readers know it as a published baseline.
FedSA-LoRA averages like FedAvg; FHBench clients all hold the same number of samples, so the
plain and the size-weighted average coincide there. The head stays local as in EPFL, so that
the comparison with EPFL isolates the mixing weights.

Partial participation: the server averages the A matrices of the clients that returned (equal
weights 1/|returned|) and keeps that global A; only they receive it. A client asked after missing
rounds first downloads the current global A (as a client sampled in the paper's round receives
the global A); B and head stay as it left them. A hospital joining after training takes the
global A with the initial B and head and runs one round of local training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fhbench.algorithms.base import Algorithm, ClientState, Tensors, clone, copy_into
from fhbench.algorithms.epfl import uniform_weights


@dataclass
class FedSALoRA(Algorithm):
    name = "fedsa_lora"

    def upload(self, client: int, state: ClientState) -> Tensors:
        return {k: state.params[k] for k in self.info.lora_a}

    def setup(self, info) -> None:
        super().setup(info)
        self.global_a: Tensors | None = None  # the server's average A

    def init_client(self, client: int, initial: Tensors) -> ClientState:
        if self.global_a is None:
            self.global_a = clone({k: initial[k] for k in self.info.lora_a})
        return super().init_client(client, initial)

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        n = len(uploads)
        w = uniform_weights(n, self_weight=1.0 / n)  # every entry 1/n
        self.global_a = {k: sum(w[0, j].item() * uploads[j][k] for j in range(n)) for k in self.info.lora_a}
        return [self.global_a] * n

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        copy_into(state.params, message)

    def catch_up(self, client: int, state: ClientState) -> Tensors:
        return self.global_a

    def newcomer_state(self, initial: Tensors) -> ClientState:
        state = self.init_client(self.info.n_clients, initial)
        copy_into(state.params, self.global_a)
        return state

    def server_state(self) -> dict:
        return {"global_a": self.global_a}

    def load_server_state(self, state: dict) -> None:
        self.global_a = state["global_a"]
