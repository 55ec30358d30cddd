"""The worst-off clients: their rows under every table and accuracy against client training size.

A mean over clients hides the sites a method fails. Every table cell also carries ``bottom10``
(the mean of the worst 10% of clients, at least one: :func:`fhbench.metrics.bottom10`) and
``worst`` (the lowest client), each averaged over seeds; :func:`worst_off_markdown` prints them
under the Markdown table. :func:`plot_client_size` draws each client's score against its
training size (read from the runs' ``run.json``), one panel per dataset and partition, one
colour per method: where a quantity-skewed split leaves some clients little data, it shows
which methods leave them behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import pandas as pd

from fhbench.metrics import RUN_KEYS

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def worst_off_markdown(table: pd.DataFrame) -> str:
    """Per method and column: ``bottom10 (worst)`` in percent, averaged over seeds."""
    if "bottom10" not in table.columns or table["bottom10"].isna().all():
        return ""
    columns = list(dict.fromkeys(table["column"]))
    cells = {(m, c): (b, w) for m, c, b, w in zip(table["method"], table["column"], table["bottom10"], table["worst"])}
    lines = ["| method | " + " | ".join(columns) + " |", "|" + "|".join([":---"] + [":---:"] * len(columns)) + "|"]
    for method in dict.fromkeys(table["method"]):
        row = []
        for column in columns:
            b, w = cells.get((method, column), (float("nan"), float("nan")))
            row.append("–" if pd.isna(b) else f"{100 * b:.2f} ({100 * w:.2f})")
        lines.append(f"| {method} | " + " | ".join(row) + " |")
    note = (
        "Worst-off clients: mean test score (%) of the worst 10% of clients (at least one) at their best validation "
        "round, the single worst client in brackets; per run, then averaged over seeds."
    )
    return "\n" + note + "\n\n" + "\n".join(lines) + "\n"


def client_sizes(info_paths: Iterable[str | Path]) -> pd.DataFrame:
    """Each run's clients and their training sizes, from the ``train_sizes`` its ``run.json`` records."""
    rows = []
    for path in info_paths:
        info = json.loads(Path(path).read_text())
        config = info["config"]
        for client, size in enumerate(info.get("train_sizes", [])):
            rows.append((*(config[k] for k in RUN_KEYS), client, int(size)))
    return pd.DataFrame(rows, columns=RUN_KEYS + ["client", "train_size"])


def size_scores(metrics: pd.DataFrame, sizes: pd.DataFrame, eval_point: str = "local") -> pd.DataFrame:
    """Per run and client: its protocol score (test accuracy at its best validation round) and training size."""
    from fhbench.metrics import best_validation_scores

    scores = best_validation_scores(metrics, "accuracy", eval_point)
    return scores.astype({"seed": "int64"}).merge(sizes.astype({"seed": "int64"}), on=RUN_KEYS + ["client"], how="inner")


def plot_client_size(metrics: pd.DataFrame, title: str = "", sizes: pd.DataFrame | None = None, eval_point: str = "local", **_) -> "Figure":
    """Per-client test accuracy against client training size, one panel per (dataset, partition), one colour per method.

    Each point is one client of one seed; the line joins each method's mean score per size
    decile, so a method that fails the smallest clients bends down at the left.
    """
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from fhbench.reporting.figures import NothingToPlot, _finish, _label_axes, _methods, _panels

    if sizes is None or sizes.empty:
        raise NothingToPlot("the runs' run.json hold no client training sizes")
    points = size_scores(metrics, sizes, eval_point)
    points = points[points["value"].notna()]
    if points.empty:
        raise NothingToPlot("no client has both a training size and a test score")
    points["method"] = _methods(points)
    panels = list(points.groupby(["dataset", "partition"], sort=True))
    fig, axes = _panels(len(panels))
    for ax, ((dataset, partition), frame) in zip(axes, panels):
        for index, (method, rows) in enumerate(frame.groupby("method", sort=True)):
            colour = f"C{index % 10}"
            ax.scatter(rows["train_size"], 100 * rows["value"], s=12, alpha=0.6, color=colour, label=method)
            bins = pd.qcut(rows["train_size"].rank(method="first"), q=min(10, len(rows)), labels=False)
            trend = rows.groupby(bins).agg(size=("train_size", "mean"), value=("value", "mean"))
            ax.plot(trend["size"], 100 * trend["value"], color=colour, lw=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())  # 10, 100 rather than 10¹, 10²
        ax.xaxis.set_minor_formatter(NullFormatter())
        _label_axes(ax, f"{dataset} / {partition}", "client training samples (log scale)")
    return _finish(fig, title)
