"""What every figure shares: the panel grid, titles, the figure-wide legend and the axis styling
(:mod:`fhbench.reporting.figures` and the figure modules beside it)."""

from __future__ import annotations

import math


class NothingToPlot(ValueError):
    """The runs hold no rows a figure draws (every run diverged before its first evaluation)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(n: int, width: float = 4.2, height: float = 3.2, layout: str = "constrained"):
    """A grid of ``n`` axes (at most 3 per row); unused axes are hidden. Constrained layout keeps
    the figure title, panel titles, outside legends and colour bars from overlapping."""
    plt = _pyplot()
    cols = min(3, max(1, n))
    rows = math.ceil(max(1, n) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout=layout)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _finish(fig, title: str):
    """The figure title above the panels (constrained layout places it clear of the panel titles)."""
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _figure_legend(fig, axes) -> None:
    """One legend for the whole figure, under the panels, instead of one per panel that may hide data."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncol=min(6, len(entries)), frameon=False)


def _label_axes(
    ax, title: str, xlabel: str, ylabel: str = "test accuracy (%)", grid_axis: str = "both", legend_outside: bool = False
) -> None:
    """The styling every panel shares: title, axis labels, a light grid and a small legend
    (below the panel when ``legend_outside``, so it never hides a point)."""
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis=grid_axis)
    if legend_outside:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    else:
        ax.legend(fontsize=7)
