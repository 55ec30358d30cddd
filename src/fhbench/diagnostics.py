"""Learning diagnostics of a run: did its LoRA adapters and head move, and do clients differ?

A run whose adapters do not move measures nothing about the methods that exchange them (on
random tiny models LoRA A moved by 3e-8 per round and EPFL trained bit for bit like ``local``,
issue #22). The engine (:mod:`fhbench.federation`) calls :class:`AdapterDiagnostics` twice a
round — before local training and after it, before aggregation — and the run writes the tidy
rows to ``diagnostics.csv`` beside ``metrics.csv``: one row per (round, client that trained, quantity):

- ``lora_A``: ‖A_after − A_before‖ / ‖A_before‖ over the client's LoRA A tensors (all layers
  as one vector) in that round's local training;
- ``lora_B``: ‖B_after − B_before‖ / ‖B₁‖, with B₁ the client's B after its round-1 training
  (B starts at zero, so its own norm at the start is no scale; round 1 is 1 by definition);
- ``head``: ‖Δhead‖ / ‖head_before‖ over the classification head;
- ``lora_A_spread`` (client −1): the mean over clients of ‖A_i − Ā‖ / ‖Ā‖ after local
  training, Ā the clients' mean: 0 while every client holds the same A, as all do at the start.

A quantity a client does not train (FFA-LoRA's frozen A) has no row. :func:`stalled_tensors`
names the tensors of a run that never moved; the engine logs them at the end of the run and
``fhbench status`` lists them.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from fhbench.metrics import RUN_KEYS

if TYPE_CHECKING:  # torch and pandas only where used: `fhbench status` reads these files too
    import pandas as pd
    import torch

    from fhbench.algorithms.base import ClientState, FederationInfo, Tensors

DIAGNOSTICS_COLUMNS = RUN_KEYS + ["round", "client", "quantity", "value"]
QUANTITIES = ("lora_A", "lora_B", "head", "lora_A_spread")
#: A tensor "has not moved" when its largest relative change over every client and round stays
#: below this. Measured on the demo: random tiny models left A at ≤ 3e-8 per round; pretrained
#: demo backbones move A by 1e-3 to 1e-1 per round. B and the head start far from that bound.
STALL_THRESHOLD = 1e-5
FIGURE = "figures/diagnostics.png (REPORT.md, Learning diagnostics)"  # named in warnings


def _norm(tensors: Sequence["torch.Tensor"]) -> float:
    return math.sqrt(sum(float((t.detach().double() ** 2).sum()) for t in tensors)) if tensors else 0.0


def _diff(after: Sequence["torch.Tensor"], before: Sequence["torch.Tensor"]) -> float:
    return _norm([a - b for a, b in zip(after, before)])


class AdapterDiagnostics:
    """Collects the rows of one run; its :meth:`state` goes into the run's checkpoint."""

    def __init__(self, keys: tuple, info: "FederationInfo"):
        self.keys = keys
        self.groups = {"lora_A": info.lora_a, "lora_B": info.lora_b, "head": info.head}
        self.rows: list[tuple] = []
        self.b_scale: dict[int, float] = {}  # per client: ‖B₁‖
        self._before: dict[int, dict[str, list["torch.Tensor"]]] = {}

    def _tensors(self, params: "Tensors") -> dict[str, list["torch.Tensor"]]:
        return {q: [params[n] for n in names if n in params] for q, names in self.groups.items()}

    def start_round(self, states: Sequence["ClientState"], trained: Sequence[int] | None = None) -> None:
        """Before local training: a copy of the tensors of every client that trains this round
        (``trained``; all by default: under partial participation, fhbench.participation, the asked ones)."""
        clients = range(len(states)) if trained is None else trained
        self._before = {c: {q: [t.detach().clone() for t in ts] for q, ts in self._tensors(states[c].params).items()} for c in clients}

    def end_training(self, round_: int, states: Sequence["ClientState"], trained: Sequence[int] | None = None) -> None:
        """After local training, before aggregation: the changes of the clients that trained (no row
        for a client that sat the round out) and the spread of every client's A."""
        import torch

        a_after = []
        for client, state in enumerate(states):
            after = self._tensors(state.params)
            if after["lora_A"]:
                a_after.append(torch.cat([t.detach().double().flatten() for t in after["lora_A"]]))
            if client not in self._before:
                continue
            before = self._before[client]
            for quantity, tensors in after.items():
                if not tensors:
                    continue
                change = _diff(tensors, before[quantity])
                if quantity == "lora_B":
                    if client not in self.b_scale:
                        self.b_scale[client] = _norm(tensors)
                    scale = self.b_scale[client]
                else:
                    scale = _norm(before[quantity])
                self.rows.append((*self.keys, round_, client, quantity, change / scale if scale > 0 else float("nan")))
        if len(a_after) > 1:
            stacked = torch.stack(a_after)
            mean = stacked.mean(0)
            spread = float((stacked - mean).norm(dim=1).mean() / mean.norm()) if float(mean.norm()) > 0 else float("nan")
            self.rows.append((*self.keys, round_, -1, "lora_A_spread", spread))
        self._before = {}

    def state(self) -> dict:
        return {"rows": list(self.rows), "b_scale": dict(self.b_scale)}

    def load_state(self, state: dict | None) -> None:
        state = state or {}
        self.rows = [tuple(r) for r in state.get("rows", [])]
        self.b_scale = {int(k): float(v) for k, v in state.get("b_scale", {}).items()}

    def frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(self.rows, columns=DIAGNOSTICS_COLUMNS)


def largest_changes(rows) -> dict[str, float]:
    """Per trained quantity, its largest finite relative change over the rows (NaN: never finite).

    ``rows`` are (quantity, value) pairs; a quantity without rows is not trained and absent."""
    largest: dict[str, float] = {}
    for quantity, value in rows:
        if quantity not in ("lora_A", "lora_B", "head"):
            continue
        value = float(value)
        previous = largest.get(quantity, float("nan"))
        largest[quantity] = value if math.isnan(previous) or (math.isfinite(value) and value > previous) else previous
    return largest


def stalled_tensors(frame: "pd.DataFrame", threshold: float = STALL_THRESHOLD) -> list[str]:
    """The quantities (``lora_A``, ``lora_B``, ``head``) of one run whose largest relative change
    over every client and round is below ``threshold`` (or never finite), each as a phrase."""
    return _phrases(largest_changes(zip(frame["quantity"], frame["value"])), threshold)


def _phrases(largest: dict[str, float], threshold: float) -> list[str]:
    out = []
    for quantity in ("lora_A", "lora_B", "head"):
        if quantity not in largest:
            continue  # not trained by this algorithm
        value = largest[quantity]
        if not math.isfinite(value) or value < threshold:
            shown = "never finite" if not math.isfinite(value) else f"{value:.1e}"
            out.append(f"{quantity} moved by at most {shown} (relative, per round)")
    return out


def stalled_in_file(path: str | Path, threshold: float = STALL_THRESHOLD) -> list[str]:
    """:func:`stalled_tensors` of a ``diagnostics.csv`` read without pandas (for ``fhbench status``)."""
    with open(path, newline="") as handle:
        return _phrases(largest_changes((r["quantity"], r["value"] or "nan") for r in csv.DictReader(handle)), threshold)


def stall_warning(label: str, frame: "pd.DataFrame", figure: str | None = None) -> str | None:
    """One line naming the run, the tensors that did not move and where to look; None if all moved."""
    stalled = stalled_tensors(frame)
    if not stalled:
        return None
    where = f"; see its diagnostics.csv and the figure {figure}" if figure else "; see its diagnostics.csv"
    return f"warning: {label}: the adapters have not moved: {'; '.join(stalled)}{where}"


def read_diagnostics(paths: Sequence[str | Path]) -> "pd.DataFrame":
    import pandas as pd

    frames = [pd.read_csv(p) for p in paths if Path(p).exists()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DIAGNOSTICS_COLUMNS)
