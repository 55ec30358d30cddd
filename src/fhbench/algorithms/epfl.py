"""EPFL, the FHBench paper's method (arXiv 2504.10817, docs/protocol.md §5).

Uploaded: each client's LoRA A and B matrices. Server: the distance d_ij between clients is the
mean Frobenius distance of their B matrices over the selected layers; the similarity 1/d_ij is
normalised per row and scaled by (1 - λ), the self weight is λ. Downloaded: client i's new A
matrices Σ_j w_ij A_j. Kept local: B matrices and the head.

Variants (ablations): ``weights="uniform"`` replaces the similarities by equal weights;
``share`` chooses which matrices are mixed (``"A"`` as published, ``"B"`` or ``"AB"``).

Partial participation: the distances and weights are computed over the clients that returned
(an N' × N' matrix, N' = how many returned), each of them receives its mix of their A; the
others keep their A (the server computes a client's mix only from a round's uploads, so there is
nothing to catch up on). In ``mixing.csv`` rows and columns of absent clients are NaN. A hospital
joining after training has no trained B, so no distance to anyone can be computed: it applies
EPFL's rule with uniform off-diagonal weights (the ``weights="uniform"`` variant), A = λ A⁰ +
(1 − λ) · mean_j A_j over the A every training client last received, with its B and head from
the initialisation (the server never sees a head); then it runs one round of local training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from fhbench.algorithms.base import Algorithm, ClientState, Tensors
from fhbench.search_space import choice, linear_range

LAYER_SELECTIONS = ("all", "first_half", "second_half")
WEIGHTINGS = ("similarity", "uniform")
SHARED = ("A", "B", "AB")


def select_layers(tensors: Sequence[torch.Tensor], layers: str) -> Sequence[torch.Tensor]:
    """All, the first half, or the second half of a model-ordered list of tensors."""
    half = len(tensors) // 2
    selections = {"all": tensors, "first_half": tensors[:half], "second_half": tensors[half:]}
    if layers not in selections:
        raise ValueError(f"layers must be one of {LAYER_SELECTIONS}, got {layers!r}")
    chosen = selections[layers]
    return chosen if len(chosen) else tensors  # a one-layer model has no halves


def b_distances(b_by_client: Sequence[Sequence[torch.Tensor]], layers: str = "all") -> torch.Tensor:
    """d_ij: the mean Frobenius distance of clients i and j's B matrices over the selected layers (float64)."""
    n = len(b_by_client)
    selected = [select_layers(list(bs), layers) for bs in b_by_client]
    distance = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(i + 1, n):
            d = torch.stack([torch.linalg.norm((a - b).double()) for a, b in zip(selected[i], selected[j])]).mean()
            distance[i, j] = distance[j, i] = d
    return distance


def similarity_weights(b_by_client: Sequence[Sequence[torch.Tensor]], self_weight: float = 0.5, layers: str = "all") -> torch.Tensor:
    """The N × N mixing matrix of EPFL; row i holds the weights client i applies.

    ``b_by_client[i]`` is client i's list of LoRA B tensors in model order. Off-diagonal weights
    are 1/d_ij normalised over j ≠ i and scaled by (1 - self_weight). Where some other clients'
    B matrices equal client i's (d_ij = 0, the limit of 1/d), those clients share the
    off-diagonal weight equally instead of dividing by zero.
    """
    n = len(b_by_client)
    if not 0.0 <= self_weight <= 1.0:
        raise ValueError(f"self_weight must lie in [0, 1], got {self_weight}")
    if n == 1:
        return torch.ones(1, 1)
    return weights_from_distances(b_distances(b_by_client, layers), self_weight)


def weights_from_distances(distance: torch.Tensor, self_weight: float = 0.5) -> torch.Tensor:
    """EPFL's mixing matrix from the client distances (see :func:`similarity_weights`)."""
    n = len(distance)
    weights = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        d = distance[i, others]
        if bool((d == 0).any()):
            share = (d == 0).double()
        else:
            share = 1.0 / d
        weights[i, others] = (1.0 - self_weight) * share / share.sum()
        weights[i, i] = self_weight
    return weights.float()


def uniform_weights(n: int, self_weight: float = 0.5) -> torch.Tensor:
    """Self weight λ, the rest shared equally by the other clients."""
    if n == 1:
        return torch.ones(1, 1)
    weights = torch.full((n, n), (1.0 - self_weight) / (n - 1))
    weights.fill_diagonal_(self_weight)
    return weights


def embed(matrix: torch.Tensor, clients: Sequence[int], n: int) -> torch.Tensor:
    """An N' × N' matrix over ``clients`` placed in an n × n one, NaN elsewhere."""
    out = np.full((n, n), np.nan)
    index = np.asarray(clients)
    out[np.ix_(index, index)] = np.asarray(matrix, dtype=float)
    return torch.from_numpy(out)


@dataclass
class EPFL(Algorithm):
    name = "epfl"
    self_weight: float = 0.5
    layers: str = "all"
    weights: str = "similarity"
    share: str = "A"
    search_space = Algorithm.search_space | {
        "self_weight": linear_range(0.1, 0.9, "λ, the weight a client keeps on its own A; the span of the paper's λ ablation"),
        "layers": choice(LAYER_SELECTIONS, "which B layers measure client distance (the paper's layer ablation)"),
    }

    def __post_init__(self) -> None:
        if self.weights not in WEIGHTINGS:
            raise ValueError(f"weights must be one of {WEIGHTINGS}, got {self.weights!r}")
        if self.share not in SHARED:
            raise ValueError(f"share must be one of {SHARED}, got {self.share!r}")
        if self.layers not in LAYER_SELECTIONS:
            raise ValueError(f"layers must be one of {LAYER_SELECTIONS}, got {self.layers!r}")

    def setup(self, info) -> None:
        super().setup(info)
        self.latest: dict[int, Tensors] = {}  # the shared matrices each client last received (server side)

    def shared_names(self) -> tuple[str, ...]:
        return {"A": self.info.lora_a, "B": self.info.lora_b, "AB": self.info.lora_a + self.info.lora_b}[self.share]

    def upload(self, client: int, state: ClientState) -> Tensors:
        # Similarity weighting needs every client's B on the server for the distances.
        needed = self.info.lora_b if self.weights == "similarity" else ()
        names = dict.fromkeys(self.shared_names() + needed)
        return {k: state.params[k] for k in names}

    def mixing_matrix(self, uploads: list[Tensors]) -> torch.Tensor:
        if self.weights == "uniform":
            self._matrices = {"mixing": uniform_weights(len(uploads), self.self_weight)}
            return self._matrices["mixing"]
        b_by_client = [[u[k] for k in self.info.lora_b] for u in uploads]
        if len(uploads) == 1:
            weights, distance = torch.ones(1, 1), torch.zeros(1, 1, dtype=torch.float64)
        else:
            distance = b_distances(b_by_client, self.layers)
            weights = weights_from_distances(distance, self.self_weight)
        # Kept for server_matrices: the weights and the distances they came from, as data.
        self._matrices = {"mixing": weights, "b_distance": distance}
        return weights

    def server_matrices(self) -> dict[str, torch.Tensor]:
        return dict(getattr(self, "_matrices", {}))

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        w = self.mixing_matrix(uploads)
        names = self.shared_names()
        messages = []
        for i in range(len(uploads)):
            messages.append({k: sum(w[i, j].item() * uploads[j][k] for j in range(len(uploads))) for k in names})
        for client, message in zip(returned, messages):
            self.latest[client] = message
        if len(returned) < self.info.n_clients:  # absent clients: NaN rows and columns in mixing.csv
            self._matrices = {name: embed(matrix, returned, self.info.n_clients) for name, matrix in self._matrices.items()}
        return messages

    def catch_up(self, client: int, state: ClientState) -> Tensors:
        return {}

    def newcomer_state(self, initial: Tensors) -> ClientState:
        state = self.init_client(self.info.n_clients, initial)
        lam, n = self.self_weight, self.info.n_clients
        latest = [self.latest.get(j, initial) for j in range(n)]  # a client that never received one holds A⁰
        for k in self.shared_names():
            state.params[k].copy_(lam * initial[k] + (1.0 - lam) * sum(m[k] for m in latest) / n)
        return state

    def server_state(self) -> dict:
        return {"latest": self.latest}

    def load_server_state(self, state: dict) -> None:
        self.latest = state["latest"]

    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        for key, value in message.items():
            state.params[key].copy_(value)
