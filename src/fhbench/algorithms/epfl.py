"""EPFL, the FHBench paper's method (arXiv 2504.10817, docs/protocol.md §5).

Uploaded: each client's LoRA A and B matrices. Server: the distance d_ij between clients is the
mean Frobenius distance of their B matrices over the selected layers; the similarity 1/d_ij is
normalised per row and scaled by (1 - λ), the self weight is λ. Downloaded: client i's new A
matrices Σ_j w_ij A_j. Kept local: B matrices and the head.

Variants (ablations): ``weights="uniform"`` replaces the similarities by equal weights;
``share`` chooses which matrices are mixed (``"A"`` as published, ``"B"`` or ``"AB"``).

Beyond the paper (docs/protocol.md §10), two answers to its open questions:

- ``layers="adaptive"``: each round the server measures, per B tensor, how unequal the clients'
  pairwise distances are (their coefficient of variation, :func:`layer_spread`) and computes
  d_ij over the ⌈L/2⌉ tensors where it is highest (:func:`adaptive_distances`). Recorded every
  round in ``mixing.csv`` as ``layer_spread`` and ``layer_chosen`` (i = j = the tensor's index);
  each chosen tensor's distances enter divided by their mean over the client pairs.
- ``weights="shrunk"``: row i of the similarity weights is pulled toward uniform by
  s_i = n₀ / (n₀ + n_i), n_i client i's training samples, n₀ = :data:`SHRINK_SAMPLES`
  (:func:`shrinkage`); recorded per evaluation round as ``shrinkage`` (per client, on the diagonal).

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

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from fhbench.algorithms.base import Algorithm, ClientState, Tensors
from fhbench.search_space import choice, linear_range

LAYER_SELECTIONS = ("all", "first_half", "second_half", "adaptive")
# The tuning space keeps the paper's three fixed choices: tuning reproduces the published method
# with its own knobs; the adaptive rule is an extension judged in its own ablation (protocol §10).
PAPER_LAYER_SELECTIONS = ("all", "first_half", "second_half")
WEIGHTINGS = ("similarity", "uniform", "shrunk")
FROM_DISTANCES = ("similarity", "shrunk")  # weightings computed from the clients' B matrices
SHARED = ("A", "B", "AB")
# n₀ of weights="shrunk", a stated constant: about one batch (16-32 here), so a client holding
# less than a batch (one SGD step per epoch: its B is one minibatch gradient) leans mostly on
# uniform weights (see shrinkage()). Not a hyperparameter: a config key with a schema default
# would enter every EPFL run's parameters and rerun them all.
SHRINK_SAMPLES = 32.0


def select_layers(tensors: Sequence[torch.Tensor], layers: str) -> Sequence[torch.Tensor]:
    """All, the first half, or the second half of a model-ordered list of tensors."""
    half = len(tensors) // 2
    selections = {"all": tensors, "first_half": tensors[:half], "second_half": tensors[half:]}
    if layers not in selections:
        raise ValueError(f"layers must be one of {PAPER_LAYER_SELECTIONS} here (adaptive: adaptive_distances), got {layers!r}")
    chosen = selections[layers]
    return chosen if len(chosen) else tensors  # a one-layer model has no halves


def layer_distances(b_by_client: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """L × N × N (float64): per B tensor l, the Frobenius distance of clients i and j's B_l."""
    n, n_layers = len(b_by_client), len(b_by_client[0])
    distance = torch.zeros(n_layers, n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(i + 1, n):
            d = torch.stack([torch.linalg.norm((a - b).double()) for a, b in zip(b_by_client[i], b_by_client[j])])
            distance[:, i, j] = distance[:, j, i] = d
    return distance


def layer_spread(distances: torch.Tensor) -> torch.Tensor:
    """Per layer, how unequal the clients' pairwise distances are: their coefficient of variation
    (population std / mean over the pairs i < j; 0 where every distance is 0 or there is one pair).

    Why this measures separation: 1/d weights from a layer where every client is about as far
    from every other are nearly uniform and say nothing about who resembles whom; a layer where
    some pairs are close and others far (clients in groups) is the one whose weights differ from
    uniform. Dividing by the mean makes layers of different scale comparable (deep layers' B
    move more; the mean of raw distances already favours them).
    """
    n = distances.shape[-1]
    if n < 2:
        return torch.zeros(distances.shape[0], dtype=torch.float64)
    upper = torch.triu_indices(n, n, offset=1)
    pairs = distances[:, upper[0], upper[1]].double()
    mean = pairs.mean(1)
    std = pairs.std(1, correction=0)
    return torch.where(mean > 0, std / mean.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(mean))


def adaptive_layers(spread: torch.Tensor, count: int | None = None) -> list[int]:
    """The ``count`` layers (default ⌈L/2⌉, as many as a half) of highest spread, in model order.

    Bounded and deterministic: a fixed number of layers, ties going to the earlier layer. The
    count matches the halves it is compared with, so the ablation asks which layers, not how many.
    """
    n_layers = len(spread)
    count = max(1, math.ceil(n_layers / 2)) if count is None else count
    if not 1 <= count <= n_layers:
        raise ValueError(f"count must lie in [1, {n_layers}], got {count}")
    values = [float(v) for v in spread]
    ranked = sorted(range(n_layers), key=lambda layer: (-values[layer], layer))
    return sorted(ranked[:count])


def adaptive_distances(b_by_client: Sequence[Sequence[torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """``layers="adaptive"``: d_ij over the layers :func:`adaptive_layers` picks this round,
    with each layer's spread and the chosen layers (for ``mixing.csv``).

    Each chosen layer's distances are divided by their mean over the pairs before the layers
    are averaged, so a layer counts by how it ranks client pairs, not by the size of its B
    (the reason the spread is a ratio too): otherwise one large layer of noise among the chosen
    would drown the layer that separates the clients. 1/d weights are normalised per row, so
    this changes only how the layers are combined, not the scale of the weights.
    """
    per_layer = layer_distances(b_by_client)
    spread = layer_spread(per_layer)
    chosen = adaptive_layers(spread)
    selected = per_layer[chosen]
    n = selected.shape[-1]
    upper = torch.triu_indices(n, n, offset=1)
    scale = selected[:, upper[0], upper[1]].mean(1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a layer without distances stays 0
    return (selected / scale[:, None, None]).mean(0), spread, chosen


def b_distances(b_by_client: Sequence[Sequence[torch.Tensor]], layers: str = "all") -> torch.Tensor:
    """d_ij: the mean Frobenius distance of clients i and j's B matrices over the selected layers (float64)."""
    if layers == "adaptive":
        return adaptive_distances(b_by_client)[0]
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


def shrinkage(train_sizes: Sequence[int], prior_samples: float) -> torch.Tensor:
    """s_i = n₀ / (n₀ + n_i): how far client i's weights move toward uniform (float64).

    The credibility weight of empirical Bayes (Bühlmann): an estimate from n_i samples has
    variance ∝ 1/n_i, a prior worth n₀ pseudo-samples gets weight n₀ / (n₀ + n_i). Here the
    estimate is which peers resemble client i (its B moved along n_i samples' gradients), the
    prior "all peers alike" (uniform). s_i is 1/2 at n_i = n₀, tends to 1 for a client without
    data and to 0 for a large one; no cut-off to tune besides n₀.
    """
    if not prior_samples > 0:
        raise ValueError(f"prior_samples must be positive, got {prior_samples}")
    sizes = torch.as_tensor(list(train_sizes), dtype=torch.float64)
    if bool((sizes < 0).any()):
        raise ValueError(f"train_sizes must be non-negative, got {list(train_sizes)}")
    return prior_samples / (prior_samples + sizes)


def shrunk_weights(weights: torch.Tensor, shrink: torch.Tensor, self_weight: float = 0.5) -> torch.Tensor:
    """Row i of EPFL's mixing matrix pulled toward uniform by ``shrink[i]``: (1 − s_i) w_ij + s_i (1 − λ)/(N − 1).

    Both matrices give client i weight λ and rows summing to 1, so the mix does too. Every peer
    keeps at least s_i (1 − λ)/(N − 1) of client i's row: a client with little data is neither
    cut off from its peers nor left to one neighbour whose B happens to lie close to its own.
    """
    n = len(weights)
    s = torch.as_tensor(shrink, dtype=torch.float64).reshape(n, 1)
    uniform = uniform_weights(n, self_weight).double()
    return ((1.0 - s) * weights.double() + s * uniform).float()


def embed(matrix: torch.Tensor, clients: Sequence[int], n: int) -> torch.Tensor:
    """An N' × N' matrix (or N'-vector) over ``clients`` placed in an n × n one (n-vector), NaN elsewhere."""
    values = np.asarray(matrix, dtype=float)
    index = np.asarray(clients)
    if values.ndim == 1:
        out = np.full(n, np.nan)
        out[index] = values
        return torch.from_numpy(out)
    out = np.full((n, n), np.nan)
    out[np.ix_(index, index)] = values
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
        "layers": choice(PAPER_LAYER_SELECTIONS, "which B layers measure client distance (the paper's layer ablation)"),
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
        needed = self.info.lora_b if self.weights in FROM_DISTANCES else ()
        names = dict.fromkeys(self.shared_names() + needed)
        return {k: state.params[k] for k in names}

    def mixing_matrix(self, uploads: list[Tensors], clients: Sequence[int] | None = None) -> torch.Tensor:
        """The weights over the uploads of ``clients`` (default: every client, in order)."""
        clients = list(range(len(uploads))) if clients is None else list(clients)
        self._layers = {}
        if self.weights == "uniform":
            self._matrices = {"mixing": uniform_weights(len(uploads), self.self_weight)}
            return self._matrices["mixing"]
        b_by_client = [[u[k] for k in self.info.lora_b] for u in uploads]
        if len(uploads) == 1:
            weights, distance = torch.ones(1, 1), torch.zeros(1, 1, dtype=torch.float64)
        else:
            if self.layers == "adaptive":
                distance, spread, chosen = adaptive_distances(b_by_client)
                # Per B tensor (i = j = its index in model order), recorded every round (fhbench.mixing).
                self._layers = {"layer_spread": spread, "layer_chosen": torch.isin(torch.arange(len(spread)), torch.tensor(chosen))}
            else:
                distance = b_distances(b_by_client, self.layers)
            weights = weights_from_distances(distance, self.self_weight)
        # Kept for server_matrices: the weights and the distances they came from, as data.
        self._matrices = {"mixing": weights, "b_distance": distance}
        if self.weights == "shrunk":
            shrink = shrinkage([self.info.train_sizes[c] for c in clients], SHRINK_SAMPLES)
            self._matrices = {"mixing": shrunk_weights(weights, shrink, self.self_weight), "b_distance": distance, "shrinkage": shrink}
        return self._matrices["mixing"]

    def server_matrices(self) -> dict[str, torch.Tensor]:
        return dict(getattr(self, "_matrices", {})) | dict(getattr(self, "_layers", {}))

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        w = self.mixing_matrix(uploads, returned)
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
