"""Figures, each one function from the tidy per-run metrics to a matplotlib figure.

Every function takes the metrics of one experiment (``fhbench.metrics.METRIC_COLUMNS``) and
returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it as PDF and PNG.
``FIGURES`` maps the ``kind`` named under ``figures:`` in the config to its function.
matplotlib is imported inside the functions (Agg backend) so importing the registry is cheap.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd

from fhbench.io import atomic_path
from fhbench.metrics import RUN_KEYS, at_eval_point
from fhbench.reporting.tables import method_label, seed_scores

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class NothingToPlot(ValueError):
    """The runs hold no rows a figure draws (every run diverged before its first evaluation)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(n: int, width: float = 4.2, height: float = 3.2):
    """A grid of ``n`` axes (at most 3 per row); unused axes are hidden."""
    plt = _pyplot()
    cols = min(3, max(1, n))
    rows = math.ceil(max(1, n) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _methods(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([method_label(a, v) for a, v in zip(frame["algorithm"], frame["variant"])], index=frame.index)


def _finish(fig, title: str):
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _label_axes(ax, title: str, xlabel: str, ylabel: str = "test accuracy (%)", grid_axis: str = "both") -> None:
    """The styling every panel shares: title, axis labels, a light grid and a small legend."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis=grid_axis)
    ax.legend(fontsize=7)


def _require(metrics: pd.DataFrame, split: str, metric: str) -> pd.DataFrame:
    rows = metrics[(metrics["split"] == split) & (metrics["metric"] == metric)]
    if rows.empty:
        raise NothingToPlot(f"the metrics hold no {split} {metric} rows to plot")
    return rows


def missing_clients(metrics: pd.DataFrame, metric: str = "accuracy") -> dict[tuple[str, str], tuple[list[int], int]]:
    """Per (dataset, partition): the clients that have no test score (an empty test part gives
    NaN) and how many clients there are, so that a figure can say whom its means leave out."""
    test = metrics[(metrics["split"] == "test") & (metrics["metric"] == metric)]
    out = {}
    for (dataset, partition), frame in test.groupby(["dataset", "partition"], sort=True):
        scored = set(frame.loc[frame["value"].notna(), "client"])
        every = set(frame["client"])
        out[(dataset, partition)] = (sorted(int(c) for c in every - scored), len(every))
    return out


def _note_missing(ax, missing: tuple[list[int], int] | None) -> None:
    """Write on the panel which clients have no test rows (never drop them silently)."""
    if not missing or not missing[0]:
        return
    clients, total = missing
    names = ", ".join(str(c) for c in clients[:12]) + (", …" if len(clients) > 12 else "")
    ax.text(
        0.01,
        0.01,
        f"no test rows: {len(clients)} of {total} clients ({names})",
        transform=ax.transAxes,
        fontsize=7,
        color="firebrick",
        va="bottom",
    )


def convergence_curves(metrics: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Mean over clients of the test ``metric`` per round and run, then mean/std over seeds."""
    test = _require(metrics, "test", metric)
    per_run = test.groupby(RUN_KEYS + ["round"])["value"].mean().reset_index()
    out = per_run.groupby(RUN_KEYS[:-1] + ["round"])["value"].agg(mean="mean", std="std").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def plot_convergence(metrics: pd.DataFrame, title: str = "", eval_point: str = "local", **_) -> "Figure":
    """Test accuracy (mean over clients) against round, one line per method, one panel per dataset."""
    metrics = at_eval_point(metrics, eval_point)
    missing = missing_clients(metrics)
    curves = convergence_curves(metrics)
    curves["method"] = _methods(curves)
    panels = list(curves.groupby(["dataset", "partition"], sort=True))
    fig, axes = _panels(len(panels))
    for ax, ((dataset, partition), frame) in zip(axes, panels):
        for method, line in frame.groupby("method", sort=True):
            line = line.sort_values("round")
            ax.plot(line["round"], 100 * line["mean"], marker="o", ms=3, label=method)
            ax.fill_between(line["round"], 100 * (line["mean"] - line["std"]), 100 * (line["mean"] + line["std"]), alpha=0.2)
        _label_axes(ax, f"{dataset} ({partition})", "round")
        _note_missing(ax, missing.get((dataset, partition)))
    return _finish(fig, title)


def heterogeneity_points(metrics: pd.DataFrame, alphas: dict[str, float]) -> pd.DataFrame:
    """Protocol accuracy per (dataset, method, α): mean and std over seeds."""
    scores = seed_scores(metrics)
    unknown = sorted(set(scores["partition"]) - set(alphas))
    if unknown:
        raise ValueError(f"no Dirichlet alpha given for partition(s) {unknown}")
    scores["alpha"] = scores["partition"].map(alphas)
    out = scores.groupby(["dataset", "algorithm", "variant", "alpha"])["score"].agg(mean="mean", std="std").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def plot_heterogeneity(metrics: pd.DataFrame, title: str = "", alphas: dict[str, float] | None = None, **_) -> "Figure":
    """Accuracy against the Dirichlet α of the partition (log axis), one line per method."""
    points = heterogeneity_points(metrics, alphas or {})
    points["method"] = _methods(points)
    panels = list(points.groupby("dataset", sort=True))
    fig, axes = _panels(len(panels))
    for ax, (dataset, frame) in zip(axes, panels):
        for method, line in frame.groupby("method", sort=True):
            line = line.sort_values("alpha")
            ax.errorbar(line["alpha"], 100 * line["mean"], yerr=100 * line["std"], marker="o", capsize=3, label=method)
        ax.set_xscale("log")
        _label_axes(ax, dataset, "Dirichlet α (larger = closer to IID)")
    return _finish(fig, title)


def communication_points(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, partition, method): bytes sent per run (upload + download, all rounds and
    clients) and protocol accuracy, each mean (and accuracy std) over seeds."""
    _require(metrics, "comm", "upload_bytes")
    comm = metrics[(metrics["split"] == "comm") & metrics["metric"].isin(["upload_bytes", "download_bytes"])]
    keys = RUN_KEYS
    sent = comm.groupby(keys)["value"].sum().rename("bytes").reset_index()
    scores = seed_scores(metrics).merge(sent, on=keys, how="left")
    out = scores.groupby(keys[:-1]).agg(mean=("score", "mean"), std=("score", "std"), bytes=("bytes", "mean")).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def plot_communication(metrics: pd.DataFrame, title: str = "", **_) -> "Figure":
    """Accuracy against megabytes communicated per run; points labelled by variant, joined per algorithm."""
    points = communication_points(metrics)
    panels = list(points.groupby(["dataset", "partition"], sort=True))
    fig, axes = _panels(len(panels))
    for ax, ((dataset, partition), frame) in zip(axes, panels):
        for algorithm, line in frame.groupby("algorithm", sort=True):
            line = line.sort_values("bytes")
            ax.errorbar(line["bytes"] / 1e6, 100 * line["mean"], yerr=100 * line["std"], marker="o", capsize=3, label=algorithm)
            for x, y, variant in zip(line["bytes"] / 1e6, 100 * line["mean"], line["variant"]):
                ax.annotate(variant, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xscale("log")
        # Plain numbers on the log axis: the default minor labels (2×10⁻¹, …) overlap.
        ax.xaxis.set_major_formatter(_pyplot().FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(_pyplot().NullFormatter())
        _label_axes(ax, f"{dataset} ({partition})", "MB communicated per run (up + down)")
    return _finish(fig, title)


def client_accuracies(metrics: pd.DataFrame, max_rounds: int = 8) -> pd.DataFrame:
    """Per-client test accuracy at up to ``max_rounds`` evenly spaced evaluation rounds (always the last)."""
    test = _require(metrics, "test", "accuracy")
    rounds = np.sort(test["round"].unique())
    if len(rounds) > max_rounds:
        rounds = rounds[np.unique(np.linspace(0, len(rounds) - 1, max_rounds).round().astype(int))]
    return test[test["round"].isin(rounds)].copy()


def plot_client_spread(metrics: pd.DataFrame, title: str = "", max_rounds: int = 8, eval_point: str = "local", **_) -> "Figure":
    """Box plots of per-client test accuracy (clients × seeds) at evaluation rounds, per method.

    Clients without test rows (NaN accuracy) cannot be drawn; each panel counts and names them.
    """
    metrics = at_eval_point(metrics, eval_point)
    missing = missing_clients(metrics)
    data = client_accuracies(metrics, max_rounds)
    data["method"] = _methods(data)
    panels = list(data.groupby(["dataset", "partition"], sort=True))
    fig, axes = _panels(len(panels), width=5.5)
    for ax, ((dataset, partition), frame) in zip(axes, panels):
        methods = sorted(frame["method"].unique())
        rounds = sorted(frame["round"].unique())
        width = 0.8 / len(methods)
        colors = [f"C{i}" for i in range(len(methods))]
        for m, (method, color) in enumerate(zip(methods, colors)):
            values = [100 * frame[(frame["method"] == method) & (frame["round"] == r)]["value"].dropna().to_numpy() for r in rounds]
            positions = np.arange(len(rounds)) - 0.4 + width * (m + 0.5)
            box = ax.boxplot(
                values,
                positions=positions,
                widths=width * 0.9,
                patch_artist=True,
                manage_ticks=False,
                showfliers=True,
                flierprops={"markersize": 2},
            )
            for patch in box["boxes"]:
                patch.set_facecolor(color)
                patch.set_alpha(0.5)
            ax.plot([], [], color=color, lw=6, alpha=0.5, label=method)
        ax.set_xticks(np.arange(len(rounds)))
        ax.set_xticklabels([str(r) for r in rounds])
        _label_axes(ax, f"{dataset} ({partition})", "round", ylabel="client test accuracy (%)", grid_axis="y")
        _note_missing(ax, missing.get((dataset, partition)))
    return _finish(fig, title)


def plot_ranks(
    metrics: pd.DataFrame, title: str = "", eval_point: str = "local", references: Sequence[str] = ("local", "centralized"), **_
) -> "Figure":
    """Critical-difference style rank plot: each method's average rank over the dataset columns
    with a 95% bootstrap interval over seeds and clients, and the Nemenyi critical difference as
    a bar (methods whose average ranks differ by less than it are not told apart)."""
    from fhbench.reporting.stats import bootstrap_ranks, client_scores, nemenyi_cd

    scores = client_scores(at_eval_point(metrics, eval_point))
    scores = scores[~scores["algorithm"].isin(list(references))]
    if scores.empty:
        raise ValueError("the metrics hold no scored clients to rank")
    methods = list(dict.fromkeys(zip(scores["algorithm"], scores["variant"])))
    ranks = bootstrap_ranks(scores, methods)
    n_columns = scores.groupby(["dataset", "partition"]).ngroups
    cd = nemenyi_cd(len(ranks), n_columns)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(ranks) + 1.6))
    y = np.arange(len(ranks))[::-1]
    labels = [method_label(a, v) for a, v in zip(ranks["algorithm"], ranks["variant"])]
    ax.errorbar(
        ranks["avg_rank"],
        y,
        xerr=[ranks["avg_rank"] - ranks["lo"], ranks["hi"] - ranks["avg_rank"]],
        fmt="o",
        capsize=3,
        label="average rank, 95% bootstrap interval (seeds × clients)",
    )
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    if np.isfinite(cd):
        start = float(ranks["avg_rank"].min())
        ax.plot([start, start + cd], [len(ranks) - 0.4] * 2, color="black", lw=3, label=f"Nemenyi CD = {cd:.2f} ({n_columns} columns)")
    ax.set_xlim(0.5, len(ranks) + 0.5)
    ax.set_ylim(-0.8, len(ranks) - 0.1)
    subtitle = (
        f"{n_columns} dataset column(s), eval point {eval_point}; bars: 95% bootstrap interval (seeds × clients); "
        f"black: Nemenyi CD = {cd:.2f}"
    )
    _label_axes(ax, subtitle, "average rank (1 = best)", ylabel="", grid_axis="x")
    ax.title.set_fontsize(8)
    ax.get_legend().remove()  # the subtitle says it: a legend would cover the CD bar
    return _finish(fig, title)


def plot_mixing_figure(frame: pd.DataFrame, title: str = "", **_) -> "Figure":
    """EPFL's mixing matrices (``mixing.csv``, :mod:`fhbench.mixing`): one heatmap per run of its last-round mixing weights (off-diagonal, row-normalised; the
    self weight is left out), clients ordered by planted group and dominant class."""
    from fhbench.mixing import client_order, concentration, matrix_at, off_diagonal_shares, per_client

    runs = [(key, run) for key, run in frame.groupby(RUN_KEYS, sort=True) if (run["matrix"] == "mixing").any()]
    if not runs:  # drawn as a note (every run diverged before its first evaluation, or no EPFL run)
        raise NothingToPlot("no mixing matrices (only EPFL runs that reach an evaluation round record them)")
    fig, axes = _panels(len(runs), width=4.0, height=3.6)
    for ax, (key, run) in zip(axes, runs):
        order = client_order(run)
        # The self weight λ is the same on every row and would swamp the colour scale: the
        # heatmap shows where each client's shared part goes (row-normalised off-diagonal).
        shares = off_diagonal_shares(matrix_at(run, "mixing"))[np.ix_(order, order)]
        np.fill_diagonal(shares, np.nan)
        last = int(run[run["matrix"] == "mixing"]["round"].max())
        image = ax.imshow(shares, cmap="viridis", vmin=0.0)
        dominant, groups = per_client(run, "dominant_class"), per_client(run, "planted_group")
        labels = [
            (f"g{int(groups[c])}·" if groups is not None else "") + (f"c{int(dominant[c])}" if dominant is not None else str(c))
            for c in order
        ]
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels(labels, fontsize=5)
        ax.set_yticks(range(len(order)))
        ax.set_yticklabels(labels, fontsize=5)
        dataset, partition, algorithm, variant, seed = key
        stats = concentration(run)
        note = f"top-{stats['k']} nearest: {100 * stats['nearest_share']:.0f}% (uniform {100 * stats['nearest_uniform']:.0f}%)"
        if "within_share" in stats:
            note += f"\nwithin group: {100 * stats['within_share']:.0f}% (uniform {100 * stats['within_uniform']:.0f}%)"
        label = algorithm if variant == "default" else f"{algorithm} ({variant})"
        ax.set_title(f"{dataset}/{partition} {label} s{seed} r{last}\n{note}", fontsize=7)
        ax.set_xlabel("client j (g: planted group, c: dominant class)", fontsize=7)
        ax.set_ylabel("client i: share of its off-diagonal weight", fontsize=7)
        fig.colorbar(image, ax=ax, fraction=0.046)
    return _finish(fig, title)


from fhbench.reporting.diagnostics_figure import plot_diagnostics  # noqa: E402 - the registry below lists it

FIGURES: dict[str, Callable[..., "Figure"]] = {
    "convergence": plot_convergence,
    "heterogeneity": plot_heterogeneity,
    "communication": plot_communication,
    "client_spread": plot_client_spread,
    "ranks": plot_ranks,
    "mixing": plot_mixing_figure,
    "diagnostics": plot_diagnostics,
}

#: Figure kinds drawn from the runs' ``mixing.csv`` (server matrices) instead of ``metrics.csv``.
MIXING_KINDS = ("mixing",)
#: Figure kinds drawn from the runs' ``diagnostics.csv`` (fhbench.diagnostics).
DIAGNOSTICS_KINDS = ("diagnostics",)


def save_figure(fig, outputs: Sequence[str | Path], dpi: int = 150) -> None:
    """Write the figure to every path (format from the suffix), each atomically, then close it."""
    plt = _pyplot()
    try:
        for path in outputs:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)


def make_figure(kind: str, metrics: pd.DataFrame, outputs: Sequence[str | Path], title: str = "", **options) -> None:
    """Draw the registered figure ``kind`` from ``metrics`` and save it to ``outputs``."""
    if kind not in FIGURES:
        raise KeyError(f"unknown figure kind {kind!r}; registered: {sorted(FIGURES)}")
    try:
        if kind not in MIXING_KINDS + DIAGNOSTICS_KINDS:  # every figure of the runs' metrics plots test accuracy
            scored = metrics[(metrics["split"] == "test") & (metrics["metric"] == "accuracy")]["value"]
            if not np.isfinite(scored.to_numpy(dtype=float)).any():
                raise NothingToPlot("the runs hold no finite test accuracy")
        fig = FIGURES[kind](metrics, title=title, **options)
    except NothingToPlot as empty:  # a figure with a note, so the DAG (tables, REPORT.md) goes on
        fig = note_figure(
            title,
            f"Nothing to draw: {empty}.\nEvery run of this experiment diverged or stopped before its first evaluation\n(see each run's run.json).",
        )
    save_figure(fig, outputs)


def note_figure(title: str, note: str):
    """A figure that says why it holds no plot."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 2.4))
    ax.axis("off")
    ax.text(0.5, 0.5, note, ha="center", va="center", wrap=True, fontsize=10)
    return _finish(fig, title)
