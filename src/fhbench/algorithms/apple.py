"""APPLE (Luo and Wu, "Adapt to Adaptation: Learning Personalization for Cross-Silo Federated
Learning", IJCAI 2022), as published in the paper, not in the simplified FHBench code.

Each client i owns a *core model* θ_i (all its trained tensors) and a directed relationship
vector p_i ∈ R^N (init 1/N). Its personalised model is θ̂_i = Σ_j p_ij θ_j, mixing its own
current core with the latest downloaded cores of the other clients. Local loss (paper Eq. 5):
    f_i(θ̂_i) + λ(t) · μ/2 · ‖p_i − p_0‖²,   p_0 = (1/N, …, 1/N),   λ(t) = (cos(π t / T) + 1) / 2
where t = round − 1 counts finished rounds and T = ``decay_fraction`` × rounds (λ = 0 after T).
Each step on a batch, with g = ∇f_i at θ̂_i:
    θ_i ← θ_i − lr · p_ii · g                                     (chain rule; other cores fixed)
    p_ij ← p_ij − p_lr · (⟨g, θ_j⟩ + λ(t) μ (p_ij − 1/N))          for every j

Uploaded: the client's core θ_i. Server: stores the latest cores, computes nothing. Downloaded:
the cores of all other N − 1 clients (the paper's download budget M = N − 1, i.e. no client
sampling of cores). Kept local: its own core, p_i, and the downloaded cores (in the simulation
those are shared, never copied, so memory stays one set of N cores).

"As published" here means: learned p_i with the proximal pull and the cosine λ schedule of the
paper, own core trained through the mixture (so its gradient is scaled by p_ii), and every core
exchanged every round. The APPLE authors' p_0 is the client-size proportions, which is 1/N on
FHBench's equal-size clients. The simplified mixture of the published FHBench code is not kept.

How the core is stepped (``core_update``). Under plain SGD the own core moves by lr · p_ii · g
with p_ii ≈ 1/N, so with 20 clients it barely trains. The code that ran the paper's experiments
does not train that way:
- ``momentum`` (default, the authors' code, pFL-APPLE ``train_APPLE.py``): one SGD optimiser
  with momentum 0.9 over the client's model and p_i, built afresh each round (the momentum
  buffers restart every round); its step on the core is lr times the momentum buffer of
  p_ii · g, on p_i p_lr times the buffer of its gradient.
- ``scaled`` (PFLlib's ``clientapple``): plain SGD with the core's learning rate multiplied by
  N, which cancels p_ii ≈ 1/N: θ_i ← θ_i − N · lr · p_ii · g; p_i as above without momentum.
- ``plain``: the paper's update under the protocol's plain SGD (θ_i ← θ_i − lr · p_ii · g), the
  behaviour before this option existed; kept for comparison.

Partial participation: the server keeps every client's latest core (the initial one until it
first returns) and stores the cores of the clients that returned; each of them downloads the
latest cores of all others, stale ones included. A client asked after missing rounds first
downloads the latest cores too; its p_i and own core are as it left them. A hospital joining
after training is client N + 1: its own core starts from the initial tensors, p from the
uniform p_0 = 1/(N + 1); it downloads the N cores, runs one round of the steps above (λ = 0
after training) on its training part and is scored with its θ̂.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from fhbench.algorithms.base import Algorithm, ClientState, LocalTrainer, Tensors, clone
from fhbench.search_space import log_range


def core_key(client: int, name: str) -> str:
    return f"core{client}/{name}"


def loss_schedule(round_: int, rounds: int, decay_fraction: float = 1.0) -> float:
    """λ(t) = (cos(π t / T) + 1) / 2 with t = round − 1, T = decay_fraction · rounds; 0 after T."""
    horizon = max(decay_fraction * rounds, 1e-12)
    t = round_ - 1
    return 0.0 if t >= horizon else (math.cos(math.pi * t / horizon) + 1.0) / 2.0


CORE_UPDATES = ("momentum", "scaled", "plain")


@dataclass
class APPLE(Algorithm):
    name = "apple"
    mu: float = 0.1  # proximal coefficient on p_i
    p_lr: float = 1e-3  # learning rate of the relationship vector
    decay_fraction: float = 1.0  # λ(t) decays to 0 over this fraction of the rounds
    core_update: str = "momentum"  # how the own core (and p_i) is stepped: CORE_UPDATES
    momentum: float = 0.9  # core_update "momentum": the authors' SGD momentum
    search_space = Algorithm.search_space | {
        "p_lr": log_range(1e-4, 1e-1, "p_i's own step size; its gradient ⟨g, θ_j⟩ scales with the model, so decades apart"),
        "mu": log_range(1e-3, 1.0, "strength of the pull of p_i toward 1/N, from negligible to dominant"),
    }

    def __post_init__(self) -> None:
        if self.core_update not in CORE_UPDATES:
            raise ValueError(f"core_update must be one of {CORE_UPDATES}, got {self.core_update!r}")

    def setup(self, info) -> None:
        super().setup(info)
        self._initial_core: Tensors | None = None
        self.cores: list[Tensors] = []  # the server's latest core of every client

    def init_client(self, client: int, initial: Tensors) -> ClientState:
        n = self.info.n_clients
        if self._initial_core is None:
            self._initial_core = clone(initial)  # every client starts from the same tensors
            self.cores = [self._initial_core] * n
        cores = {j: self._initial_core for j in range(n) if j != client}
        return ClientState(params=clone(initial), extra={"p": torch.full((n,), 1.0 / n), "cores": cores})

    def personalised(self, client: int, state: ClientState) -> Tensors:
        p, cores = state.extra["p"], state.extra["cores"]
        out = {k: p[client].item() * v for k, v in state.params.items()}
        for j, core in cores.items():
            for k in out:
                out[k] = out[k] + p[j].item() * core[k]
        return out

    def step(
        self,
        client: int,
        state: ClientState,
        trainer: LocalTrainer,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        buffers: dict | None = None,
    ) -> float:
        """One batch: gradients at the personalised model, then the core and p_i steps.

        ``buffers`` holds this round's momentum buffers (``core_update`` "momentum"); a fresh
        dict starts them, as the authors' optimiser does each round.
        """
        buffers = {} if buffers is None else buffers
        p, cores, own = state.extra["p"], state.extra["cores"], state.params
        lam = loss_schedule(trainer.round, self.info.rounds, self.decay_fraction)
        loss, g = trainer.loss_and_grads(self.personalised(client, state), inputs, labels)
        grad_p = torch.zeros_like(p)
        for j in range(len(p)):
            theta_j = own if j == client else cores[j]
            grad_p[j] = float(sum((g[k] * theta_j[k]).sum() for k in own))
        grad_p += lam * self.mu * (p - 1.0 / len(p))
        p_own = p[client].item()
        with torch.no_grad():
            if self.core_update == "momentum":
                for k in own:
                    grad = g[k] * p_own  # the chain rule through the mixture, as autograd gives it
                    buf = buffers.get(k)
                    buffers[k] = grad if buf is None else buf.mul_(self.momentum).add_(grad)
                    own[k].add_(buffers[k], alpha=-trainer.lr)
                buf_p = buffers.get("p")
                grad_p = buffers["p"] = grad_p if buf_p is None else self.momentum * buf_p + grad_p
            else:
                scale = len(p) if self.core_update == "scaled" else 1.0
                for k in own:
                    own[k].add_(g[k], alpha=-trainer.lr * scale * p_own)
        state.extra["p"] = p - self.p_lr * grad_p
        return loss + 0.5 * lam * self.mu * float(((p - 1.0 / len(p)) ** 2).sum())

    def local_update(self, client: int, state: ClientState, trainer: LocalTrainer) -> float:
        buffers: dict = {}  # momentum restarts every round: the authors build the optimiser per round
        losses = [self.step(client, state, trainer, x, y, buffers) for _ in range(trainer.local_epochs) for x, y in trainer.batches()]
        return float(np.mean(losses))

    def eval_params(self, client: int, state: ClientState) -> Tensors:
        return self.personalised(client, state)

    def upload(self, client: int, state: ClientState) -> Tensors:
        return state.params

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        # One frozen copy per core: clients go on training their own tensors in place.
        for j, upload in zip(returned, uploads):
            self.cores[j] = clone(upload)
        return [self.others(i) for i in returned]

    def others(self, client: int) -> Tensors:
        """The latest cores of every client but ``client``, as one message."""
        return {core_key(j, k): v for j, core in enumerate(self.cores) if j != client for k, v in core.items()}

    def catch_up(self, client: int, state: ClientState) -> Tensors:
        return self.others(client)

    def newcomer_state(self, initial: Tensors) -> ClientState:
        n = self.info.n_clients
        cores = dict(enumerate(self.cores))
        return ClientState(params=clone(initial), extra={"p": torch.full((n + 1,), 1.0 / (n + 1)), "cores": cores})

    def server_state(self) -> dict:
        return {"cores": self.cores}

    def load_server_state(self, state: dict) -> None:
        self.cores = state["cores"]

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        cores: dict[int, Tensors] = {}
        for key, value in message.items():
            j, name = key.split("/", 1)
            cores.setdefault(int(j[len("core") :]), {})[name] = value
        state.extra["cores"] = cores
