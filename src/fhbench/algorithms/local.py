"""Local training only: the reference point without any communication.

Uploaded: nothing. Server: nothing. Downloaded: nothing. Kept local: every trained tensor
(LoRA A and B, head). Each client trains its own adapter and head on its own data.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhbench.algorithms.base import Algorithm, ClientState, Tensors


@dataclass
class Local(Algorithm):
    name = "local"

    def upload(self, client: int, state: ClientState) -> Tensors:
        return {}

    def aggregate(self, uploads: list[Tensors]) -> list[Tensors]:
        return [{} for _ in uploads]

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        pass
