"""FedProx (Li et al., "Federated Optimization in Heterogeneous Networks", MLSys 2020).

Uploaded: every trained tensor (LoRA A and B, head), as in FedAvg. Server: the average weighted
by client training-set size. Downloaded: that average. Kept local: nothing beyond the current
tensors. The only change to FedAvg is the local objective: each batch loss gets the proximal
term (μ/2)‖w − w_global‖², where w_global is the model the client received this round
(Eq. 2 of the paper), so the gradient step gains μ (w − w_global).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fhbench.algorithms.base import ClientState, LocalTrainer, Tensors, clone
from fhbench.algorithms.fedavg import FedAvg
from fhbench.search_space import log_range


def proximal_term(params: Tensors, anchor: Tensors, mu: float) -> torch.Tensor:
    """(μ/2) Σ ‖params[k] − anchor[k]‖² over the anchor's tensors."""
    return 0.5 * mu * sum(((params[k] - anchor[k]) ** 2).sum() for k in anchor)  # type: ignore[return-value]


@dataclass
class FedProx(FedAvg):
    name = "fedprox"
    mu: float = 1e-3
    search_space = FedAvg.search_space | {
        "mu": log_range(1e-4, 1.0, "the FedProx paper picks μ from {0.001, 0.01, 0.1, 1}; a decade below reaches plain FedAvg"),
    }

    def local_update(self, client: int, state: ClientState, trainer: LocalTrainer) -> float:
        anchor = clone(state.params)  # w_global: what the client downloaded last round
        return trainer.train(state.params, loss_term=lambda params: proximal_term(params, anchor, self.mu))
