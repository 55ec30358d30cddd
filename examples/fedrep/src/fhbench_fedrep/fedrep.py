"""FedRep (Collins, Hassani, Mokhtari and Shakkottai, "Exploiting Shared Representations for
Personalized Federated Learning", ICML 2021), on LoRA.

FedRep splits the model into a representation φ that all clients learn together and a head h_i
that each client keeps. In round t every client i (the paper's Algorithm 1)

1. trains its head for τ_h epochs with the received representation φ^t fixed,
2. then trains the representation for τ_φ epochs with its new head fixed, giving φ_i^t,

and sends φ_i^t; the server averages them, φ^{t+1} = (1/n) Σ_i φ_i^t, and every client takes
φ^{t+1} in place of its own.

Here the representation is every LoRA adapter (A and B; the frozen backbone under them is the
same on every client) and the head is the classification head. τ_h is ``head_epochs`` (the
authors' default: 10 epochs on the head, then 1 on the representation); τ_φ is the config's
``training.local_epochs``, the local training every algorithm gets. The average is the plain
mean of Algorithm 1 (the authors' code weights clients by sample count; with fhbench's equal
client sizes the two agree).

Among fhbench's built-ins, FedSA-LoRA and EPFL share A and keep B (and the head) local;
FedRep shares A and B and keeps only the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fhbench.algorithms.base import Algorithm, ClientState, LocalTrainer, Tensors, copy_into


@dataclass
class FedRep(Algorithm):
    name = "fedrep"
    head_epochs: int = 10  # τ_h: epochs of plain SGD on the head alone, before the representation's

    def __post_init__(self) -> None:
        if self.head_epochs < 0:
            raise ValueError(f"head_epochs must be at least 0, got {self.head_epochs}")

    def representation(self) -> tuple[str, ...]:
        return self.info.lora_a + self.info.lora_b

    def local_update(self, client: int, state: ClientState, trainer: LocalTrainer) -> float:
        head = self.info.head
        for _ in range(self.head_epochs):
            for inputs, labels in trainer.batches():
                _, grads = trainer.loss_and_grads(state.params, inputs, labels)
                with torch.no_grad():
                    for key in head:
                        state.params[key].add_(grads[key], alpha=-trainer.lr)
        return trainer.train(state.params, frozen=head)

    def upload(self, client: int, state: ClientState) -> Tensors:
        return {key: state.params[key] for key in self.representation()}

    def aggregate(self, uploads: list[Tensors]) -> list[Tensors]:
        average = {key: torch.stack([upload[key] for upload in uploads]).mean(dim=0) for key in uploads[0]}
        return [average] * len(uploads)

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        copy_into(state.params, message)
