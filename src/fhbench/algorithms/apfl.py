"""APFL (Deng, Kamani and Mahdavi, "Adaptive Personalized Federated Learning", arXiv 2003.13461,
2020), Algorithm 1 with full participation and one synchronisation per round.

Uploaded: the client's local copy w_i of the global model (every trained tensor). Server: the
average of the w_i weighted by training-set size. Downloaded: that average, which replaces w_i.
Kept local: the personal model v_i and the mixing weight α_i (init ``alpha_init`` = 1.0).

Each local step on a batch ξ (the same batch for all three updates, all gradients taken at the
step's starting point):
    w ← w − lr ∇f(w; ξ)
    v ← v − lr ∇_v f(v̄; ξ) = v − lr α ∇f(v̄; ξ)            with v̄ = α v + (1 − α) w
    α ← clip₀¹(α − lr_α ⟨∇f(v̄; ξ), v − w⟩)                 (∂v̄/∂α = v − w)
The client is scored with the mixture v̄. The published FHBench code bound the optimizer to the
wrong tensors so w never moved; here w is trained and averaged as in the paper.

Partial participation (Algorithm 1 samples a set U_t of clients each round): the server averages
the w_i of the clients that returned, keeps the result as the global w, and only they receive
it; v_i and α_i change only in rounds a client takes part. A client asked after missing rounds
first downloads the current w. A hospital joining after training starts with w and v both equal
to the global w (every client's v starts where its w does) and α = ``alpha_init``, runs one round
of the steps above on its training part, and is scored with its v̄.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from fhbench.algorithms.base import Algorithm, ClientState, LocalTrainer, Tensors, clone, copy_into, weighted_mean
from fhbench.search_space import linear_range


def mix(v: Tensors, w: Tensors, alpha: float) -> Tensors:
    """The personalised model v̄ = α v + (1 − α) w."""
    return {k: alpha * v[k] + (1.0 - alpha) * w[k] for k in w}


def alpha_gradient(grads: Tensors, v: Tensors, w: Tensors) -> float:
    """∂f(v̄)/∂α = ⟨∇f(v̄), v − w⟩."""
    return float(sum((grads[k] * (v[k] - w[k])).sum() for k in w))


@dataclass
class APFL(Algorithm):
    name = "apfl"
    alpha_init: float = 1.0
    alpha_lr: float | None = None  # None: the round's model learning rate, as in Algorithm 1
    search_space = Algorithm.search_space | {
        "alpha_init": linear_range(0.0, 1.0, "where α starts, over all of [0, 1]: 0 = the global copy w, 1 = the personal model v"),
    }

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha_init <= 1.0:
            raise ValueError(f"alpha_init must lie in [0, 1], got {self.alpha_init}")

    def setup(self, info) -> None:
        super().setup(info)
        self.global_model: Tensors | None = None  # the server's w

    def init_client(self, client: int, initial: Tensors) -> ClientState:
        if self.global_model is None:
            self.global_model = clone(initial)
        return ClientState(params=clone(initial), extra={"v": clone(initial), "alpha": float(self.alpha_init)})

    def step(self, state: ClientState, trainer: LocalTrainer, inputs: torch.Tensor, labels: torch.Tensor) -> float:
        """One APFL step on one batch; returns the personalised model's loss."""
        w, v, alpha = state.params, state.extra["v"], state.extra["alpha"]
        lr = trainer.lr
        alpha_lr = lr if self.alpha_lr is None else self.alpha_lr
        _, grads_w = trainer.loss_and_grads(w, inputs, labels)
        loss, grads_mix = trainer.loss_and_grads(mix(v, w, alpha), inputs, labels)
        d_alpha = alpha_gradient(grads_mix, v, w)
        with torch.no_grad():
            for k in w:
                v[k].add_(grads_mix[k], alpha=-lr * alpha)
                w[k].add_(grads_w[k], alpha=-lr)
        state.extra["alpha"] = float(np.clip(alpha - alpha_lr * d_alpha, 0.0, 1.0))
        return loss

    def local_update(self, client: int, state: ClientState, trainer: LocalTrainer) -> float:
        losses = [self.step(state, trainer, x, y) for _ in range(trainer.local_epochs) for x, y in trainer.batches()]
        return float(np.mean(losses))

    def eval_params(self, client: int, state: ClientState) -> Tensors:
        return mix(state.extra["v"], state.params, state.extra["alpha"])

    def upload(self, client: int, state: ClientState) -> Tensors:
        return state.params

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        self.global_model = weighted_mean(uploads, [self.info.train_sizes[c] for c in returned])
        return [self.global_model] * len(uploads)

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        copy_into(state.params, message)

    def catch_up(self, client: int, state: ClientState) -> Tensors:
        return self.global_model

    def newcomer_state(self, initial: Tensors) -> ClientState:
        return self.init_client(self.info.n_clients, self.global_model)

    def server_state(self) -> dict:
        return {"global": self.global_model}

    def load_server_state(self, state: dict) -> None:
        self.global_model = state["global"]
