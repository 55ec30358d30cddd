"""Local training only: the reference point without any communication.

Uploaded: nothing. Server: nothing. Downloaded: nothing. Kept local: every trained tensor
(LoRA A and B, head). Each client trains its own adapter and head on its own data.

Partial participation: a client trains only in the rounds it is asked (its site is up); there is
nothing to return, so dropout changes nothing. A hospital joining after training starts from the
initial tensors and runs one round of local training: there is no federation to gain from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fhbench.algorithms.base import Algorithm, ClientState, Tensors


@dataclass
class Local(Algorithm):
    name = "local"

    def upload(self, client: int, state: ClientState) -> Tensors:
        return {}

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        return [{} for _ in uploads]

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        pass

    def catch_up(self, client: int, state: ClientState) -> Tensors:
        return {}

    def newcomer_state(self, initial: Tensors) -> ClientState:
        return self.init_client(self.info.n_clients, initial)
