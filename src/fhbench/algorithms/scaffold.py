"""SCAFFOLD (Karimireddy et al., "SCAFFOLD: Stochastic Controlled Averaging for Federated
Learning", ICML 2020), Algorithm 1 with full participation and option II.

Uploaded: the locally trained tensors y_i (equivalent to the paper's Δy_i = y_i − x, same size;
the server knows x) and the control-variate change Δc_i = c_i⁺ − c_i. Server: x ← x + η_g ·
mean_i(y_i − x) and c ← c + mean_i(Δc_i) (|S| = N). Downloaded: the new server model x **and**
the new server control variate c (the published FHBench code never sent the model back).
Kept local: the client control variate c_i and the last downloaded c.

Local step (Eq. 3): y ← y − lr (g(y) − c_i + c). After K steps, option II (Eq. 4):
c_i⁺ = c_i − c + (x − y_i) / (K · lr), with this round's learning rate.

Partial participation, as Algorithm 1 with a sampled set S: x ← x + η_g · mean_{i∈S}(y_i − x) and
c ← c + (1/N) Σ_{i∈S} Δc_i (N, not |S|: c stays the mean of all N client variates); clients
outside S keep c_i. A client asked after missing rounds first downloads x and c, as every
sampled client does in the paper. A client whose upload is lost keeps its old c_i: c_i⁺ is
committed when the server's reply arrives, so that c = mean_i c_i still holds. A hospital
joining after training is served x as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from fhbench.algorithms.base import Algorithm, ClientState, LocalTrainer, Tensors, clone, copy_into
from fhbench.search_space import log_range

MODEL, CONTROL = "model/", "control/"


def zeros_like(tensors: Tensors) -> Tensors:
    return {k: torch.zeros_like(v) for k, v in tensors.items()}


@dataclass
class Scaffold(Algorithm):
    name = "scaffold"
    server_lr: float = 1.0
    search_space = Algorithm.search_space | {
        "server_lr": log_range(0.3, 3.0, "η_g = 1 applies the mean update as is; a multiplicative factor, so log, within 3× either way"),
    }

    def setup(self, info) -> None:
        super().setup(info)
        self.x: Tensors | None = None  # server model
        self.c: Tensors | None = None  # server control variate

    def init_client(self, client: int, initial: Tensors) -> ClientState:
        if self.x is None:  # every client starts from the same tensors: that is x⁰
            self.x, self.c = clone(initial), zeros_like(initial)
        # c is the downloaded server variate: all clients hold the same (never mutated) tensors.
        return ClientState(params=clone(initial), extra={"c_i": zeros_like(initial), "c": self.c, "delta_c": zeros_like(initial)})

    def local_update(self, client: int, state: ClientState, trainer: LocalTrainer) -> float:
        x = clone(state.params)
        c_i, c = state.extra["c_i"], state.extra["c"]
        correction = {k: c[k] - c_i[k] for k in c}

        def correct(trainable: Tensors) -> None:
            for k, corr in correction.items():
                grad = trainable[k].grad
                if grad is not None:
                    grad.add_(corr)  # g − c_i + c

        before = trainer.steps
        loss = trainer.train(state.params, grad_hook=correct)
        steps = trainer.steps - before
        if steps > 0:
            # Option II: c_i⁺ = c_i − c + (x − y_i) / (K lr); committed when the server's reply arrives.
            new_c_i = {k: c_i[k] - c[k] + (x[k] - state.params[k]) / (steps * trainer.lr) for k in c}
            state.extra["delta_c"] = {k: new_c_i[k] - c_i[k] for k in c}
            state.extra["pending_c_i"] = new_c_i
        return loss

    def upload(self, client: int, state: ClientState) -> Tensors:
        out = {MODEL + k: v for k, v in state.params.items()}
        out.update({CONTROL + k: v for k, v in state.extra["delta_c"].items()})
        return out

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        assert self.x is not None and self.c is not None
        n = len(uploads)
        self.x = {k: x + self.server_lr * sum(u[MODEL + k] - x for u in uploads) / n for k, x in self.x.items()}
        self.c = {k: c + sum(u[CONTROL + k] for u in uploads) / self.info.n_clients for k, c in self.c.items()}
        return [self.message()] * n

    def message(self) -> Tensors:
        return {**{MODEL + k: v for k, v in self.x.items()}, **{CONTROL + k: v for k, v in self.c.items()}}

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        copy_into(state.params, {k[len(MODEL) :]: v for k, v in message.items() if k.startswith(MODEL)})
        state.extra["c"] = {k[len(CONTROL) :]: v for k, v in message.items() if k.startswith(CONTROL)}
        # Δc_i has been delivered; a second aggregation without training must change nothing.
        state.extra["delta_c"] = zeros_like(state.extra["delta_c"])
        if "pending_c_i" in state.extra:
            state.extra["c_i"] = state.extra.pop("pending_c_i")

    def not_returned(self, client: int, state: ClientState) -> None:
        # The server never saw Δc_i: keep the old c_i so that c stays the mean of the c_i.
        state.extra.pop("pending_c_i", None)
        state.extra["delta_c"] = zeros_like(state.extra["delta_c"])

    def catch_up(self, client: int, state: ClientState) -> Tensors:
        return self.message()

    def newcomer_trains(self) -> bool:
        return False

    def newcomer_state(self, initial: Tensors) -> ClientState:
        return ClientState(params=clone(self.x))

    def server_state(self) -> dict:
        return {"x": self.x, "c": self.c}

    def load_server_state(self, state: dict) -> None:
        self.x, self.c = state["x"], state["c"]
