"""Efficiency accounting: parameters trained and communicated per client and round.

Counts come from the real published architectures (ViT-B/16, wav2vec2-base, RoBERTa-base,
MOMENT-1-small), built on PyTorch's meta device from configurations written in code, so no
weights are downloaded. LoRA is added exactly as in a run (:func:`fhbench.models.wrap_with_lora`);
what a client uploads and downloads is whatever the algorithm's own ``upload``/``aggregate``
return, evaluated on two clients holding the trainable tensors only (a few hundred thousand
numbers), so the table cannot drift from the engine's byte accounting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from fhbench.algorithms import build as build_algorithm
from fhbench.algorithms.base import FederationInfo
from fhbench.io import write_texts
from fhbench.models import LoraSpec, get_backbone, wrap_with_lora

COLUMNS = [
    "backbone",
    "architecture",
    "hf_id",
    "n_classes",
    "algorithm",
    "total_params",
    "trained_params",
    "lora_a_params",
    "lora_b_params",
    "head_params",
    "upload_params",
    "upload_bytes",
    "download_params",
    "download_bytes",
]


@dataclass(frozen=True)
class TrainableLayout:
    """The trainable tensors of a LoRA-wrapped real architecture, in model order."""

    total_params: int
    shapes: dict[str, tuple[int, ...]]
    lora_a: tuple[str, ...]
    lora_b: tuple[str, ...]
    head: tuple[str, ...]

    def count(self, names) -> int:
        return int(sum(torch.Size(self.shapes[n]).numel() for n in names))


def trainable_layout(architecture: str, n_classes: int, lora: LoraSpec) -> TrainableLayout:
    """Wrap the real architecture (meta device) with LoRA and list what a client trains."""
    backbone = get_backbone(architecture)
    model = backbone.build_meta(n_classes)
    base_params = sum(p.numel() for p in model.parameters())
    wrapped = wrap_with_lora(model, backbone, lora)
    trainable = {n: tuple(p.shape) for n, p in wrapped.named_parameters() if p.requires_grad}
    lora_a = tuple(n for n in trainable if "lora_A" in n)
    lora_b = tuple(n for n in trainable if "lora_B" in n)
    head = tuple(n for n in trainable if "lora_" not in n)
    lora_params = sum(torch.Size(trainable[n]).numel() for n in lora_a + lora_b)
    # peft keeps the original head beside its trained copy; the model has one head.
    return TrainableLayout(int(base_params + lora_params), trainable, lora_a, lora_b, head)


def communication(layout: TrainableLayout, algorithm: str, params: dict, dtype: torch.dtype = torch.float32) -> dict[str, int]:
    """Parameters and bytes one client uploads and downloads in one round under ``algorithm``."""
    algo = build_algorithm(algorithm, **params)
    n_clients = 2
    algo.setup(
        FederationInfo(
            n_clients=n_clients,
            rounds=1,
            train_sizes=(1,) * n_clients,
            param_names=tuple(layout.shapes),
            lora_a=layout.lora_a,
            lora_b=layout.lora_b,
            head=layout.head,
        )
    )
    generator = torch.Generator().manual_seed(0)
    # Distinct random values per client, so that no algorithm takes a degenerate branch.
    states = [
        algo.init_client(i, {n: torch.randn(s, generator=generator, dtype=dtype) for n, s in layout.shapes.items()})
        for i in range(n_clients)
    ]
    uploads = [algo.upload(i, s) for i, s in enumerate(states)]
    messages = algo.aggregate(uploads)
    up, down = uploads[0], messages[0]
    return {
        "upload_params": int(sum(t.numel() for t in up.values())),
        "upload_bytes": int(sum(t.numel() * t.element_size() for t in up.values())),
        "download_params": int(sum(t.numel() for t in down.values())),
        "download_bytes": int(sum(t.numel() * t.element_size() for t in down.values())),
    }


def efficiency_table(backbones: dict[str, dict], n_classes: dict[str, int], algorithms: dict[str, dict]) -> pd.DataFrame:
    """One row per (backbone, algorithm).

    Parameters
    ----------
    backbones
        Config ``backbones`` entries (``architecture``, ``hf_id``, ``lora``); a tiny twin is
        counted as the real architecture it stands for.
    n_classes
        Head size per backbone key.
    algorithms
        Config ``algorithms`` entries (hyperparameters).
    """
    rows = []
    for key, entry in backbones.items():
        lora = LoraSpec(**{"rank": 8, "alpha": 16, "dropout": 0.0, **entry.get("lora", {})})
        layout = trainable_layout(entry["architecture"], n_classes[key], lora)
        for algorithm, params in algorithms.items():
            rows.append(
                {
                    "backbone": key,
                    "architecture": entry["architecture"],
                    "hf_id": entry["hf_id"],
                    "n_classes": n_classes[key],
                    "algorithm": algorithm,
                    "total_params": layout.total_params,
                    "trained_params": layout.count(layout.shapes),
                    "lora_a_params": layout.count(layout.lora_a),
                    "lora_b_params": layout.count(layout.lora_b),
                    "head_params": layout.count(layout.head),
                    **communication(layout, algorithm, params or {}),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def backbone_classes(config: dict) -> dict[str, int]:
    """Head size per configured backbone: the largest class count among the datasets using it,
    else the class count of the backbone's reference dataset in docs/protocol.md §3."""
    from fhbench.data import DATASETS

    classes = {key: get_backbone(entry["architecture"]).reference_classes for key, entry in config["backbones"].items()}
    used: dict[str, int] = {}
    for name, ds in config["datasets"].items():
        if name in DATASETS:
            used[ds["backbone"]] = max(used.get(ds["backbone"], 0), len(DATASETS[name].class_names))
    return {**classes, **used}


def to_markdown(table: pd.DataFrame) -> str:
    # A demo's tiny twin is counted as the published model it stands for: show which.
    shown = table.drop(columns=["architecture"]).rename(columns={"hf_id": "counted as"}).copy()
    for col in shown.columns:
        if col.endswith(("_params", "_bytes")):
            shown[col] = [f"{v:,}" for v in shown[col]]
    header = (
        "# Efficiency\n\nParameters of the real architectures (LoRA from the config, float32); upload/download per client per round.\n\n"
    )
    return header + shown.to_markdown(index=False) + "\n"


def to_latex(table: pd.DataFrame) -> str:
    cols = ["backbone", "algorithm", "total_params", "trained_params", "upload_params", "upload_bytes", "download_params", "download_bytes"]
    head = ["Backbone", "Algorithm", "Total", "Trained", "Up (params)", "Up (bytes)", "Down (params)", "Down (bytes)"]
    lines = [r"\begin{tabular}{ll" + "r" * (len(cols) - 2) + "}", r"\toprule", " & ".join(head) + r" \\", r"\midrule"]
    for _, row in table[cols].iterrows():
        cells = [str(row[c]).replace("_", r"\_") if i < 2 else f"{int(row[c]):,}".replace(",", "{,}") for i, c in enumerate(cols)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_efficiency_table(config: dict, csv_out: str | Path, md_out: str | Path, tex_out: str | Path) -> pd.DataFrame:
    table = efficiency_table(config["backbones"], backbone_classes(config), config["algorithms"])
    write_texts({csv_out: table.to_csv(index=False), md_out: to_markdown(table), tex_out: to_latex(table)})
    return table
