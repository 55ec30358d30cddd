"""The A/B asymmetry, measured: how alike the clients' LoRA A updates are, and their B updates.

FedSA-LoRA (Guo et al., ICLR 2025) found, and the FHBench paper assumes without testing, that
LoRA's A matrices learn what clients share and its B matrices what is client-specific. Every
run measures it, every round: for each LoRA tensor (each A_l and B_l, in model order) and each
client that trained, the tensor's **delta over the round** (after local training minus what the
client held when the round began); then, across those clients, the **mean pairwise cosine
similarity of the flattened deltas** (:func:`similarity_across_clients`). 1: every client moves
the tensor the same way; 0: unrelated directions; the tensor whose updates are more alike is
the more shared. Beside it the mean Frobenius norm of the deltas (how far the tensor moved:
the directions of near-zero deltas say little; LoRA's B starts at 0, so A barely moves at first).

Deltas rather than the matrices themselves: every client starts from the same initial A, so
its A stays close to it and the matrices would look alike whatever the clients learn. Under
FedAvg-style sharing every client starts the round from the same A and B and the deltas are
its own update directions; under local training from its own.

``asymmetry.csv`` beside ``metrics.csv`` (one row per round × matrix × layer × measure):
``dataset, partition, algorithm, variant, seed, round, matrix (A|B), layer, measure
(cosine|norm), value``. :mod:`fhbench.reporting.asymmetry` draws and summarises it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

from fhbench.metrics import RUN_KEYS

if TYPE_CHECKING:  # torch is imported where it is used: the figures read this module's tables without it
    import pandas
    import torch

    Tensors = dict[str, torch.Tensor]

ASYMMETRY_COLUMNS = RUN_KEYS + ["round", "matrix", "layer", "measure", "value"]
MEASURES = ("cosine", "norm")
GROUP = ["dataset", "partition", "algorithm", "variant"]  # a method on a column: seeds pooled


def similarity_across_clients(deltas_by_client: Sequence["torch.Tensor"]) -> float:
    """Mean pairwise cosine similarity of the clients' tensors, each flattened (float64).

    A client whose tensor is exactly zero (it did not move: no training data) has no direction
    and is left out; NaN when fewer than two clients are left.
    """
    import torch

    if len(deltas_by_client) < 2:
        return math.nan
    flat = torch.stack([d.detach().reshape(-1).double() for d in deltas_by_client])
    norms = torch.linalg.vector_norm(flat, dim=1)
    moved = norms > 0
    if int(moved.sum()) < 2:
        return math.nan
    unit = flat[moved] / norms[moved, None]
    n = len(unit)
    upper = torch.triu_indices(n, n, offset=1, device=unit.device)
    return float((unit @ unit.T)[upper[0], upper[1]].mean())


def mean_norm(deltas_by_client: Sequence["torch.Tensor"]) -> float:
    """Mean Frobenius norm of the clients' tensors (how far the tensor moved this round)."""
    import torch

    if not deltas_by_client:
        return math.nan
    return float(torch.stack([torch.linalg.vector_norm(d.detach().double()) for d in deltas_by_client]).mean())


class AsymmetryRecorder:
    """The engine's hook: :meth:`round_start` before the round's training, :meth:`round_end`
    after it (before the server step); ``rows`` are checkpointed with the run's other rows.

    ``enabled=False`` (an algorithm without clients of its own: the centralized reference, whose
    client states are one model) records nothing.
    """

    def __init__(self, keys: tuple, lora_a: Sequence[str], lora_b: Sequence[str], enabled: bool = True):
        self.keys = tuple(keys)
        self.names = {"A": tuple(lora_a), "B": tuple(lora_b)}
        self.enabled = enabled and bool(lora_a) and bool(lora_b)
        self.rows: list[tuple] = []
        self._start: dict[int, "Tensors"] = {}

    def round_start(self, params_by_client: Mapping[int, "Tensors"]) -> None:
        """Copy the LoRA tensors each client of the round holds now (the deltas' origin). A tensor
        that is no client's state (FFA-LoRA's frozen A, the same everywhere) gets no rows."""
        if not self.enabled:
            return
        names = self.names["A"] + self.names["B"]
        self._start = {c: {k: params[k].detach().clone() for k in names if k in params} for c, params in params_by_client.items()}

    def round_end(self, round_: int, params_by_client: Mapping[int, "Tensors"]) -> None:
        """One ``cosine`` and one ``norm`` row per LoRA tensor, over the clients of :meth:`round_start`."""
        if not self.enabled or not self._start:
            return
        clients = sorted(self._start)
        for matrix, names in self.names.items():
            for layer, name in enumerate(names):
                if any(name not in self._start[c] for c in clients):
                    continue
                deltas = [params_by_client[c][name].detach() - self._start[c][name] for c in clients]
                self.rows.append((*self.keys, round_, matrix, layer, "cosine", similarity_across_clients(deltas)))
                self.rows.append((*self.keys, round_, matrix, layer, "norm", mean_norm(deltas)))
        self._start = {}

    def frame(self) -> "pandas.DataFrame":
        return asymmetry_frame(self.rows)


def asymmetry_frame(rows: Sequence[tuple]) -> "pandas.DataFrame":
    import pandas as pd

    return pd.DataFrame(list(rows), columns=ASYMMETRY_COLUMNS)


def per_round(frame: "pandas.DataFrame", measure: str = "cosine") -> "pandas.DataFrame":
    """Per (run, round, matrix): the mean over the LoRA layers of ``measure`` (NaN layers left
    out) and ``nan_layers``, how many were NaN."""
    rows = frame[frame["measure"] == measure]
    grouped = rows.groupby(RUN_KEYS + ["round", "matrix"], sort=True)["value"]
    return grouped.agg(value="mean", nan_layers=lambda v: int(v.isna().sum())).reset_index()
