"""The learning-diagnostics figure: how far each method's adapters and head move per round.

Drawn from the runs' ``diagnostics.csv`` (:mod:`fhbench.diagnostics`), one panel per quantity —
relative change of LoRA A, of LoRA B (against its norm after round 1), of the head, and the
spread of A across clients — with round on the x axis (log-scaled y) and one line per method:
the median over the experiment's runs and clients, with the 10–90% band over clients. The
dotted line is :data:`fhbench.diagnostics.STALL_THRESHOLD`, below which a tensor "has not
moved" (the run log and ``fhbench status`` warn). Registered as the figure kind ``diagnostics``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fhbench.diagnostics import STALL_THRESHOLD

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANELS = (
    ("lora_A", "LoRA A: ‖ΔA‖ / ‖A‖ per round"),
    ("lora_B", "LoRA B: ‖ΔB‖ / ‖B after round 1‖"),
    ("head", "head: ‖Δ‖ / ‖head‖ per round"),
    ("lora_A_spread", "spread of A across clients"),
)


def diagnostics_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (method, quantity, round): median and 10/90% quantiles of the finite values."""
    frame = frame.astype({"value": float})
    frame = frame[np.isfinite(frame["value"])].copy()
    frame["method"] = [a if v == "default" else f"{a} ({v})" for a, v in zip(frame["algorithm"], frame["variant"])]
    grouped = frame.groupby(["method", "quantity", "round"])["value"]
    out = grouped.median().rename("median").to_frame()
    out["low"] = grouped.quantile(0.1)
    out["high"] = grouped.quantile(0.9)
    return out.reset_index()


def plot_diagnostics(frame: pd.DataFrame, title: str = "", **_) -> "Figure":
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = diagnostics_curves(frame)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4), squeeze=False)
    methods = sorted(curves["method"].unique())
    colours = {m: plt.get_cmap("tab20")(i % 20) for i, m in enumerate(methods)}
    for ax, (quantity, label) in zip(axes[0], PANELS):
        part = curves[(curves["quantity"] == quantity) & (curves["median"] > 0)]
        for method, rows in part.groupby("method", sort=True):
            ax.plot(rows["round"], rows["median"], marker=".", label=method, color=colours[method])
            ax.fill_between(rows["round"], rows["low"].clip(lower=1e-12), rows["high"], alpha=0.15, color=colours[method])
        if quantity != "lora_A_spread":
            ax.axhline(STALL_THRESHOLD, color="grey", linestyle=":", linewidth=1)
        if curves.empty:  # every run stopped before a round ended (diverged), or none has run
            ax.text(0.5, 0.5, "no rows: every run diverged or none ran", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        elif part.empty:
            ax.text(0.5, 0.5, "no rows (not trained or a single client)", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        else:
            ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("round")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, bbox_to_anchor=(0.5, -0.08))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
