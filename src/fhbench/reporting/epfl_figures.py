"""EPFL's own figures: the adaptive layer choice (``layers``) and the A/B update asymmetry
(``asymmetry``), registered in :data:`fhbench.reporting.figures.FIGURE_KINDS`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fhbench.metrics import RUN_KEYS
from fhbench.reporting.figure_layout import NothingToPlot, _figure_legend, _finish, _label_axes, _panels
from fhbench.reporting.tables import method_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_layer_choice(frame: pd.DataFrame, title: str = "", **_) -> "Figure":
    """EPFL's adaptive layer choice (``layers: adaptive``; ``layer_spread`` / ``layer_chosen`` in
    ``mixing.csv``, :mod:`fhbench.mixing`): per (dataset, partition, variant) with adaptive runs,
    its first seed as a layers × rounds heatmap of each LoRA B tensor's spread (coefficient of
    variation of the client distances), a dot where the tensor was chosen; the tick labels give
    the share of rounds each tensor was chosen. Seeds not drawn are named in the title."""
    from fhbench.mixing import layer_choices

    runs = [(key, layer_choices(run)) for key, run in frame.groupby(RUN_KEYS, sort=True)]
    runs = [(key, layers) for key, layers in runs if not layers.empty]
    if not runs:
        raise NothingToPlot("no layer choices (only EPFL runs with layers: adaptive record them)")
    shown: dict[tuple, tuple] = {}
    for key, layers in runs:  # sorted by seed last: the first seed of each panel wins
        shown.setdefault(key[:4], (key, layers))
    fig, axes = _panels(len(shown), width=6.4, height=3.6)
    image = None
    vmax = max(float(np.nanmax(layers["spread"])) for _, layers in shown.values()) or 1.0
    for ax, (key, layers) in zip(axes, shown.values()):
        grid = layers.pivot(index="layer", columns="round", values="spread")
        chosen = layers.pivot(index="layer", columns="round", values="chosen").astype(bool)
        rounds, tensors = list(grid.columns), list(grid.index)
        image = ax.imshow(grid.to_numpy(float), aspect="auto", cmap="viridis", vmin=0.0, vmax=vmax, origin="lower")
        ys, xs = np.nonzero(chosen.to_numpy())
        ax.scatter(xs, ys, s=max(2.0, 60.0 / max(1, len(rounds)) ** 0.5), color="white", edgecolors="black", linewidths=0.3)
        share = chosen.mean(axis=1)
        ax.set_yticks(range(len(tensors)))
        ax.set_yticklabels([f"B{t} ({100 * share[t]:.0f}%)" for t in tensors], fontsize=7)
        step = max(1, math.ceil(len(rounds) / 6))
        ticks = sorted(set(range(0, len(rounds), step)) | {len(rounds) - 1})
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(rounds[t]) for t in ticks], fontsize=7)
        dataset, partition, algorithm, variant, seed = key
        ax.set_title(f"{dataset}/{partition} {method_label(algorithm, variant)}, seed {seed}", fontsize=8)
        ax.set_xlabel("round", fontsize=8)
        ax.set_ylabel("LoRA B tensor, model order\n(% of rounds chosen; dot: chosen)", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.9, aspect=30, pad=0.02, label="spread (CV of client distances)")
    seeds, drawn = sorted({key[4] for key, _ in runs}), sorted({key[4] for key, _ in shown.values()})
    if drawn != seeds:
        missing = ", ".join(str(s) for s in seeds if s not in drawn)
        title = f"{title}\n(seed {', '.join(map(str, drawn))} drawn; seed {missing} not drawn)"
    return _finish(fig, title)


def plot_asymmetry(frame: pd.DataFrame, title: str = "", **_) -> "Figure":
    """The A/B asymmetry (``asymmetry.csv``, :mod:`fhbench.asymmetry`): one panel per dataset
    (one dataset per modality in the configs), per round the clients' mean pairwise cosine
    similarity of their A updates (solid) and B updates (dashed), averaged over the LoRA layers
    and the seeds, one colour per method. REPORT.md's sentence: :mod:`fhbench.reporting.asymmetry`."""
    from fhbench.asymmetry import GROUP, per_round
    from fhbench.reporting.tables import dataset_modalities

    if frame.empty or not (frame["measure"] == "cosine").any():
        raise NothingToPlot("no run recorded its clients' A and B updates (asymmetry.csv)")
    curves = per_round(frame, "cosine").groupby(GROUP + ["round", "matrix"], sort=True)["value"].mean().reset_index()
    modalities = dataset_modalities(curves["dataset"].unique())
    order = {"image": 0, "audio": 1, "timeseries": 2, "text": 3}
    panels = sorted(curves.groupby(["dataset", "partition"], sort=True), key=lambda item: (order.get(modalities[item[0][0]], 9), item[0]))
    fig, axes = _panels(len(panels))
    methods = sorted({method_label(a, v) for a, v in zip(curves["algorithm"], curves["variant"])})
    colours = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for ax, ((dataset, partition), rows) in zip(axes, panels):
        for (algorithm, variant, matrix), line in rows.groupby(["algorithm", "variant", "matrix"], sort=True):
            method = method_label(algorithm, variant)
            style = "-" if matrix == "A" else "--"
            ax.plot(line["round"], line["value"], color=colours[method], ls=style, lw=1.4, label=f"{method}: {matrix}")
        ax.axhline(0.0, color="0.6", lw=0.8)
        _label_axes(ax, f"{dataset} ({modalities[dataset]}) / {partition}", "round", "mean pairwise cosine of updates")
    _figure_legend(fig, axes)
    return _finish(fig, title)
