"""FFA-LoRA (Sun et al., "Improving LoRA in Privacy-Preserving Federated Learning", ICLR 2024).

The LoRA A matrices stay frozen at their random initialisation, which is the same on every
client (one seeded initialisation per run); only B is trained. Uploaded: the B matrices and,
with ``share_head`` (default, as in the paper's FedAvg setup where every trained tensor is
averaged), the classification head. Server: the average weighted by training-set size.
Downloaded: that average. Kept local: nothing else (the frozen A is identical everywhere; with
``share_head: false`` the head stays local).

Because A never changes, averaging B averages the LoRA update ΔW = B A exactly, which is the
point of the method.

Partial participation (as FedAvg, which FFA-LoRA follows): the server averages the clients that
returned, keeps the result, and only they receive it; a client asked after missing rounds first
downloads it. A hospital joining after training is served the averaged B and head as they are;
with ``share_head: false`` it has no head of its own yet, so it takes the averaged B and the
initial head and runs one round of local training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fhbench.algorithms.base import Algorithm, ClientState, LocalTrainer, Tensors, clone, copy_into, weighted_mean


@dataclass
class FFALoRA(Algorithm):
    name = "ffa_lora"
    share_head: bool = True

    def shared_names(self) -> tuple[str, ...]:
        return self.info.lora_b + (self.info.head if self.share_head else ())

    def setup(self, info) -> None:
        super().setup(info)
        self.global_model: Tensors | None = None  # the server's average of the shared tensors

    def init_client(self, client: int, initial: Tensors) -> ClientState:
        if self.global_model is None:
            self.global_model = clone({k: initial[k] for k in self.shared_names()})
        # A is frozen and identical on every client, so it is not client state: it stays loaded
        # in the shared model from the run's initialisation and is never stepped.
        return ClientState(params=clone({k: v for k, v in initial.items() if k not in self.info.lora_a}))

    def local_update(self, client: int, state: ClientState, trainer: LocalTrainer) -> float:
        return trainer.train(state.params, frozen=self.info.lora_a)

    def upload(self, client: int, state: ClientState) -> Tensors:
        return {k: state.params[k] for k in self.shared_names()}

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        self.global_model = weighted_mean(uploads, [self.info.train_sizes[c] for c in returned])
        return [self.global_model] * len(uploads)

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        copy_into(state.params, message)

    def catch_up(self, client: int, state: ClientState) -> Tensors:
        return self.global_model

    def newcomer_trains(self) -> bool:
        return not self.share_head  # a local head must be trained first

    def newcomer_state(self, initial: Tensors) -> ClientState:
        state = self.init_client(self.info.n_clients, initial)
        copy_into(state.params, self.global_model)
        return state

    def server_state(self) -> dict:
        return {"global": self.global_model}

    def load_server_state(self, state: dict) -> None:
        self.global_model = state["global"]
