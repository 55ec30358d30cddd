"""FFA-LoRA (Sun et al., "Improving LoRA in Privacy-Preserving Federated Learning", ICLR 2024).

The LoRA A matrices stay frozen at their random initialisation, which is the same on every
client (one seeded initialisation per run); only B is trained. Uploaded: the B matrices and,
with ``share_head`` (default, as in the paper's FedAvg setup where every trained tensor is
averaged), the classification head. Server: the average weighted by training-set size.
Downloaded: that average. Kept local: nothing else (the frozen A is identical everywhere; with
``share_head: false`` the head stays local).

Because A never changes, averaging B averages the LoRA update ΔW = B A exactly, which is the
point of the method.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhbench.algorithms.base import Algorithm, ClientState, LocalTrainer, Tensors, clone, copy_into, weighted_mean


@dataclass
class FFALoRA(Algorithm):
    name = "ffa_lora"
    share_head: bool = True

    def shared_names(self) -> tuple[str, ...]:
        return self.info.lora_b + (self.info.head if self.share_head else ())

    def init_client(self, client: int, initial: Tensors) -> ClientState:
        # A is frozen and identical on every client, so it is not client state: it stays loaded
        # in the shared model from the run's initialisation and is never stepped.
        return ClientState(params=clone({k: v for k, v in initial.items() if k not in self.info.lora_a}))

    def local_update(self, client: int, state: ClientState, trainer: LocalTrainer) -> float:
        return trainer.train(state.params, frozen=self.info.lora_a)

    def upload(self, client: int, state: ClientState) -> Tensors:
        return {k: state.params[k] for k in self.shared_names()}

    def aggregate(self, uploads: list[Tensors]) -> list[Tensors]:
        return [weighted_mean(uploads, list(self.info.train_sizes))] * len(uploads)

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        copy_into(state.params, message)
