"""FedALA (Zhang et al., "FedALA: Adaptive Local Aggregation for Personalized Federated
Learning", AAAI 2023).

Uploaded: every trained tensor, as in FedAvg. Server: the average weighted by training-set
size. Downloaded: that average θ. Kept local: the client's own tensors θ_i (not overwritten by
the download), the element-wise weights W_i of the top ``layers`` tensors, and θ until it is
used.

Adaptive local aggregation (ALA), at the start of the next local training (paper Eq. 4–6):
the lower tensors take the global values; every tensor of the top ``layers`` trainable layers
becomes θ̂ = θ_i + (θ − θ_i) ⊙ W. A layer is a module's trained tensors (:func:`layer_groups`):
the head's weight and bias are one layer, a LoRA adapter's A and B on one projection are one
layer, and layers count in model order from the top, so the default 1 is the head's last layer
on every backbone and larger values reach into the LoRA adapters of the last blocks. W starts at 1 and is
learned on a random ``data_fraction`` slice of the client's training data:
    W ← clip₀¹(W − η · ∇_θ̂ f(θ̂) ⊙ (θ − θ_i))
In the client's first ALA (start phase) W is trained for epochs over the slice until the
standard deviation of the last ``num_pre_loss`` epoch losses falls below ``threshold`` (at most
``max_start_epochs`` epochs); afterwards one pass per round. Then normal local training starts
from θ̂. The first round has no global model yet, so no ALA. The published FHBench code crashed
in round 2 and otherwise reduced to FedAvg (W never learned); here W is learned and kept.

Partial participation (the paper samples a ratio ρ of clients per round): the server averages
the clients that returned (as FedAvg); only they receive θ; a client asked after missing rounds
first downloads the current θ, and ALA then mixes it with its own θ_i, which it kept while
absent. A hospital joining after training has no θ_i yet: it starts from θ (ALA has nothing to
adapt) and runs one round of local training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fhbench.algorithms.base import ClientState, LocalTrainer, Tensors
from fhbench.algorithms.fedavg import FedAvg
from fhbench.search_space import choice, log_range


def layer_key(name: str) -> str:
    """The layer a trainable tensor belongs to: its module path without the parameter name, and
    for a LoRA tensor the adapted projection (``...query.lora_A.default.weight`` → ``...query``)."""
    if ".lora_" in name or name.startswith("lora_"):
        return name.split("lora_", 1)[0].rstrip(".")
    for suffix in (".weight", ".bias"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def layer_groups(names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Trainable tensor names grouped into layers, in model order (first appearance)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(layer_key(name), []).append(name)
    return [tuple(v) for v in groups.values()]


@dataclass
class FedALA(FedAvg):
    name = "fedala"
    eta: float = 1.0  # learning rate of W
    layers: int = 1  # number of top trainable layers adapted element-wise (the paper's p; head weight + bias = 1)
    data_fraction: float = 0.8  # the paper's s%: share of local training data used to learn W
    threshold: float = 0.1  # start phase stops when std of recent losses drops below this
    num_pre_loss: int = 10  # how many recent losses that std is taken over
    max_start_epochs: int = 50  # guard: the paper's loop has no cap
    search_space = FedAvg.search_space | {
        "eta": log_range(0.1, 10.0, "step size η of the ALA weights W; the paper's 1.0, a decade either side"),
        "layers": choice((1, 2, 3), "the paper's p: 1 adapts the head only, 2-3 reach into the last block's LoRA adapters"),
    }

    def __post_init__(self) -> None:
        if self.layers < 1:
            raise ValueError(f"layers must be >= 1, got {self.layers}")
        if not 0.0 < self.data_fraction <= 1.0:
            raise ValueError(f"data_fraction must lie in (0, 1], got {self.data_fraction}")

    def top_names(self) -> tuple[str, ...]:
        """The tensors of the top ``layers`` layers (all of them when there are fewer layers)."""
        return tuple(name for group in layer_groups(self.info.param_names)[-self.layers :] for name in group)

    def init_client(self, client: int, initial: Tensors) -> ClientState:
        state = super().init_client(client, initial)
        state.extra.update({"weights": None, "start_phase": True})
        return state

    def adapt(self, state: ClientState, trainer: LocalTrainer) -> list[float]:
        """Apply ALA to ``state.params`` from the stored global model; return the W-learning losses."""
        glob: Tensors = state.extra.pop("global")
        local = state.params
        top = self.top_names()
        with torch.no_grad():
            for k in local:
                if k not in top:
                    local[k].copy_(glob[k])  # lower layers: global values
        if all(torch.equal(local[k], glob[k]) for k in top):
            return []  # nothing to adapt (θ_i = θ)
        weights = state.extra["weights"] or {k: torch.ones_like(local[k]) for k in top}
        diff = {k: glob[k] - local[k] for k in top}
        candidate = dict(local)
        losses: list[float] = []
        while True:
            loss = float("nan")
            for x, y in trainer.batches("train", fraction=self.data_fraction):
                candidate.update({k: local[k] + diff[k] * weights[k] for k in top})
                loss, grads = trainer.loss_and_grads(candidate, x, y)
                weights = {k: torch.clamp(weights[k] - self.eta * grads[k] * diff[k], 0.0, 1.0) for k in top}
            losses.append(loss)
            if not state.extra["start_phase"]:
                break
            if len(losses) > self.num_pre_loss and np.std(losses[-self.num_pre_loss :]) < self.threshold:
                break
            if len(losses) >= self.max_start_epochs:
                break
        state.extra.update({"weights": weights, "start_phase": False})
        with torch.no_grad():
            for k in top:
                local[k].copy_(local[k] + diff[k] * weights[k])
        return losses

    def local_update(self, client: int, state: ClientState, trainer: LocalTrainer) -> float:
        if state.extra.get("global") is not None:
            self.adapt(state, trainer)
        return trainer.train(state.params)

    def newcomer_trains(self) -> bool:
        return True

    def newcomer_state(self, initial: Tensors) -> ClientState:
        # θ_i = θ: a client whose first local update starts from the global model.
        return self.init_client(self.info.n_clients, self.global_model)

    def received_params(self, client: int, state: ClientState) -> Tensors:
        # What the server sent (the global model); ALA only mixes it in when training starts.
        return state.extra.get("global") or state.params

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        # Keep θ_i: ALA needs both models. The message is shared by all clients, never mutated.
        state.extra["global"] = message
