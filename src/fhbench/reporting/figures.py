"""Figures, each one function from the tidy per-run metrics to a matplotlib figure.

Every function takes the metrics of one experiment (``fhbench.metrics.METRIC_COLUMNS``) and
returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it as PDF and PNG.
``FIGURES`` maps the ``kind`` named under ``figures:`` in the config to its function.
matplotlib is imported inside the functions (Agg backend) so importing the registry is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd

from fhbench.io import atomic_path
from fhbench.metrics import RUN_KEYS, at_eval_point
from fhbench.reporting.figure_layout import NothingToPlot, _figure_legend, _finish, _label_axes, _panels, _pyplot
from fhbench.reporting.tables import method_label, seed_scores
from fhbench.reporting.unseen import unseen_table
from fhbench.reporting.worst_off import size_scores

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _methods(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([method_label(a, v) for a, v in zip(frame["algorithm"], frame["variant"])], index=frame.index)


def _seed_note(n_seeds: pd.Series) -> str:
    """What the error bars are, in words: a single seed has none (no legend promises them)."""
    low, high = int(n_seeds.min()), int(n_seeds.max())
    if high <= 1:
        return "one seed: no error bars"
    seeds = f"{low}" if low == high else f"{low}–{high}"
    return f"error bars: ±1 std over {seeds} seeds"


def _data_ticks(ax, values, fmt: str = "{:g}", min_ratio: float = 1.25) -> None:
    """Major ticks on a log axis at the plotted values themselves (thinned so labels never touch):
    a narrow range otherwise shows a single tick label or none."""
    ticks: list[float] = []
    for v in sorted(set(float(x) for x in values if np.isfinite(x) and x > 0)):
        if not ticks or v / ticks[-1] >= min_ratio:
            ticks.append(v)
    plt = _pyplot()
    ax.xaxis.set_major_locator(plt.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(plt.FixedFormatter([fmt.format(t) for t in ticks]))
    ax.xaxis.set_minor_formatter(plt.NullFormatter())


def _local_reference(ax, points: pd.DataFrame, x: str | None = None) -> pd.DataFrame:
    """Draw the ``local`` reference (no communication) as a dashed grey line and return the other rows.

    Along ``x`` (e.g. α) when given, else as a horizontal line at its mean score.
    """
    local = points[points["algorithm"] == "local"]
    if not local.empty:
        if x is None:
            ax.axhline(100 * local["mean"].mean(), color="0.4", ls="--", lw=1.2, label="local (reference, no communication)")
        else:
            line = local.sort_values(x)
            ax.plot(line[x], 100 * line["mean"], color="0.4", ls="--", lw=1.2, marker="s", ms=3, label="local (reference)")
    return points[points["algorithm"] != "local"]


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
    _figure_legend(fig, axes)
    return _finish(fig, title)


def heterogeneity_points(metrics: pd.DataFrame, alphas: dict[str, float]) -> pd.DataFrame:
    """Protocol accuracy per (dataset, method, α): mean and std over seeds."""
    scores = seed_scores(metrics)
    unknown = sorted(set(scores["partition"]) - set(alphas))
    if unknown:
        raise ValueError(f"no Dirichlet alpha given for partition(s) {unknown}")
    scores["alpha"] = scores["partition"].map(alphas)
    out = scores.groupby(["dataset", "algorithm", "variant", "alpha"])["score"].agg(mean="mean", std="std", n_seeds="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def plot_heterogeneity(metrics: pd.DataFrame, title: str = "", alphas: dict[str, float] | None = None, **_) -> "Figure":
    """Accuracy against the Dirichlet α of the partition (log axis, ticks at the αs run), one line
    per method; error bars (±1 std over seeds) only with several seeds; ``local`` dashed as the reference."""
    points = heterogeneity_points(metrics, alphas or {})
    points["method"] = _methods(points)
    panels = list(points.groupby("dataset", sort=True))
    fig, axes = _panels(len(panels))
    for ax, (dataset, frame) in zip(axes, panels):
        methods = _local_reference(ax, frame, x="alpha")
        for method, line in methods.groupby("method", sort=True):
            line = line.sort_values("alpha")
            if line["n_seeds"].max() > 1:
                ax.errorbar(line["alpha"], 100 * line["mean"], yerr=100 * line["std"], marker="o", capsize=3, label=method)
            else:
                ax.plot(line["alpha"], 100 * line["mean"], marker="o", label=method)
        ax.set_xscale("log")
        _data_ticks(ax, frame["alpha"])
        ax.margins(x=0.1)
        _label_axes(ax, f"{dataset}\n{_seed_note(frame['n_seeds'])}", "Dirichlet α (larger = closer to IID)", legend_outside=True)
    return _finish(fig, title)


def communication_points(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, partition, method): bytes sent per run (upload + download, all rounds and
    clients) and protocol accuracy, each mean (and accuracy std) over seeds."""
    _require(metrics, "comm", "upload_bytes")
    comm = metrics[(metrics["split"] == "comm") & metrics["metric"].isin(["upload_bytes", "download_bytes"])]
    keys = RUN_KEYS
    sent = comm.groupby(keys)["value"].sum().rename("bytes").reset_index()
    scores = seed_scores(metrics).merge(sent, on=keys, how="left")
    out = scores.groupby(keys[:-1]).agg(mean=("score", "mean"), std=("score", "std"), n_seeds=("score", "count"), bytes=("bytes", "mean"))
    out = out.reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def plot_communication(metrics: pd.DataFrame, title: str = "", **_) -> "Figure":
    """Accuracy against megabytes communicated per run (log axis, ticks at the values plotted);
    points labelled by variant, joined per algorithm; error bars (±1 std over seeds) only with
    several seeds; ``local`` (nothing sent) as a dashed horizontal reference line."""
    points = communication_points(metrics)
    panels = list(points.groupby(["dataset", "partition"], sort=True))
    fig, axes = _panels(len(panels))
    for ax, ((dataset, partition), frame) in zip(axes, panels):
        sent = _local_reference(ax, frame)
        for algorithm, line in sent.groupby("algorithm", sort=True):
            line = line.sort_values("bytes")
            if line["n_seeds"].max() > 1:
                ax.errorbar(line["bytes"] / 1e6, 100 * line["mean"], yerr=100 * line["std"], marker="o", capsize=3, label=algorithm)
            else:
                ax.plot(line["bytes"] / 1e6, 100 * line["mean"], marker="o", label=algorithm)
            for x, y, variant in zip(line["bytes"] / 1e6, 100 * line["mean"], line["variant"]):
                ax.annotate(variant, (x, y), textcoords="offset points", xytext=(5, 4), ha="left", fontsize=7)
        ax.set_xscale("log")
        _data_ticks(ax, sent["bytes"] / 1e6, fmt="{:.3g}")
        ax.margins(x=0.15, y=0.15)  # room for the variant labels
        _label_axes(
            ax, f"{dataset} ({partition})\n{_seed_note(frame['n_seeds'])}", "MB communicated per run (up + down)", legend_outside=True
        )
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
    _figure_legend(fig, axes)
    return _finish(fig, title)


def plot_ranks(
    metrics: pd.DataFrame, title: str = "", eval_point: str = "local", references: Sequence[str] = ("local", "centralized"), **_
) -> "Figure":
    """Each method's average rank over the dataset columns with a 95% bootstrap interval (clients
    resampled within columns). The rank test decides what else is drawn: the Nemenyi critical
    difference only after a significant Friedman test (three or more methods); with two methods
    the Wilcoxon signed-rank result is written instead (:func:`fhbench.reporting.stats.rank_test`)."""
    from fhbench.reporting.selection import client_scores
    from fhbench.reporting.stats import bootstrap_ranks, rank_test
    from fhbench.reporting.tables import accuracy_table

    scores = client_scores(at_eval_point(metrics, eval_point))
    scores = scores[~scores["algorithm"].isin(list(references))]
    if scores.empty:
        raise ValueError("the metrics hold no scored clients to rank")
    methods = list(dict.fromkeys(zip(scores["algorithm"], scores["variant"])))
    ranks = bootstrap_ranks(scores, methods)
    test = rank_test(accuracy_table(metrics, averages=False, references=references, eval_point=eval_point))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(ranks) + 2.0), layout="constrained")
    y = np.arange(len(ranks))[::-1]
    labels = [method_label(a, v) for a, v in zip(ranks["algorithm"], ranks["variant"])]
    ax.errorbar(
        ranks["avg_rank"], y, xerr=[ranks["avg_rank"] - ranks["lo"], ranks["hi"] - ranks["avg_rank"]], fmt="o", capsize=3, label="rank"
    )
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    if np.isfinite(test.cd):
        start = float(ranks["avg_rank"].min())
        ax.plot([start, start + test.cd], [len(ranks) - 0.4] * 2, color="black", lw=3)
    ax.set_xlim(0.5, len(ranks) + 0.5)
    ax.set_xticks(range(1, len(ranks) + 1))
    ax.set_ylim(-0.8, len(ranks) - 0.1)
    import textwrap

    cd_text = "Black bar: the Nemenyi critical difference. " if np.isfinite(test.cd) else ""
    subtitle = (
        f"{test.n_columns} dataset column(s), eval point {eval_point}; bars: 95% bootstrap interval (clients resampled "
        f"within columns). {cd_text}{test.text()}"
    )
    _label_axes(ax, "\n".join(textwrap.wrap(subtitle, 95)), "average rank (1 = best)", ylabel="", grid_axis="x")
    ax.title.set_fontsize(8)
    ax.get_legend().remove()  # the subtitle says it all: a legend would cover the CD bar
    return _finish(fig, title)


def _class_blocks(ax, labels: list[str]) -> None:
    """One tick per run of equal labels (a class or group block), lines between blocks."""
    starts = [i for i in range(len(labels)) if i == 0 or labels[i] != labels[i - 1]]
    ends = starts[1:] + [len(labels)]
    centres = [(a + b - 1) / 2 for a, b in zip(starts, ends)]
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_ticks(centres)
        axis.set_ticklabels([labels[a] for a in starts], fontsize=7)
    for edge in starts[1:]:
        ax.axhline(edge - 0.5, color="white", lw=0.8)
        ax.axvline(edge - 0.5, color="white", lw=0.8)
    ax.tick_params(axis="x", labelrotation=90)


def plot_mixing_figure(frame: pd.DataFrame, title: str = "", **_) -> "Figure":
    """EPFL's mixing matrices (``mixing.csv``, :mod:`fhbench.mixing`): per (dataset, partition,
    variant) the last-round mixing weights of its first seed (off-diagonal, row-normalised; the
    self weight is left out), clients in blocks of their planted group (where the split plants
    groups) or else of their dominant training class; one colour scale for every panel. The seeds not drawn are named
    in the title; REPORT.md's concentration numbers cover every seed."""
    from fhbench.mixing import client_order, concentration, matrix_at, off_diagonal_shares, per_client

    runs = [(key, run) for key, run in frame.groupby(RUN_KEYS, sort=True) if (run["matrix"] == "mixing").any()]
    if not runs:  # drawn as a note (every run diverged before its first evaluation, or no EPFL run)
        raise NothingToPlot("no mixing matrices (only EPFL runs that reach an evaluation round record them)")
    shown: dict[tuple, tuple] = {}
    for key, run in runs:  # sorted by seed last: the first seed of each panel wins
        shown.setdefault(key[:4], (key, run))
    seeds = sorted({key[4] for key, _ in runs})
    drawn = sorted({key[4] for key, _ in shown.values()})
    panels = []
    for key, run in shown.values():
        order = client_order(run)
        # The self weight λ is the same on every row and would swamp the colour scale: the
        # heatmap shows where each client's shared part goes (row-normalised off-diagonal).
        shares = off_diagonal_shares(matrix_at(run, "mixing"))[np.ix_(order, order)]
        np.fill_diagonal(shares, np.nan)
        panels.append((key, run, order, shares))
    vmax = float(np.nanmax([np.nanmax(p[3]) for p in panels]))
    # Constrained layout: one shared colour bar beside the grid and the title above it, no overlaps.
    fig, axes = _panels(len(panels), width=3.6, height=3.7)
    image = None
    for ax, (key, run, order, shares) in zip(axes, panels):
        last = int(run[run["matrix"] == "mixing"]["round"].max())
        image = ax.imshow(shares, cmap="viridis", vmin=0.0, vmax=vmax)
        dominant, groups = per_client(run, "dominant_class"), per_client(run, "planted_group")
        # Blocks of clients: by planted group where the split plants groups (its classes are a
        # relabelling), else by dominant training class.
        if groups is not None:
            labels = [f"g{int(groups[c])}" for c in order]
        else:
            labels = [f"c{int(dominant[c])}" if dominant is not None else "" for c in order]
        if any(labels):
            _class_blocks(ax, labels)
        dataset, partition, algorithm, variant, seed = key
        stats = concentration(run)
        note = f"{stats['k']} nearest by labels: {100 * stats['nearest_share']:.0f}% (uniform {100 * stats['nearest_uniform']:.0f}%)"
        if "within_share" in stats:
            note += f"\nwithin group: {100 * stats['within_share']:.0f}% (uniform {100 * stats['within_uniform']:.0f}%)"
        label = algorithm if variant == "default" else f"{algorithm} ({variant})"
        ax.set_title(f"{dataset}/{partition} {label}, seed {seed}, round {last}\n{note}", fontsize=8)
        what = "planted group g" if groups is not None else "dominant class c"
        ax.set_xlabel(f"client j (by {what})", fontsize=8)
        ax.set_ylabel("client i", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.9, aspect=30, pad=0.02, label="share of client i's off-diagonal weight")
    if drawn != seeds:
        missing = ", ".join(str(s) for s in seeds if s not in drawn)
        title = f"{title}\n(seed {', '.join(map(str, drawn))} drawn; seed {missing} not drawn, see REPORT.md for every seed)"
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_unseen(metrics: pd.DataFrame, title: str = "", eval_point: str = "local", **_) -> "Figure":
    """Participating and unseen clients' accuracy per method, one panel per (dataset, partition)."""
    table = unseen_table(metrics, eval_point)
    if table.empty:
        raise NothingToPlot("no run holds clients out (partitions.<name>.unseen)")
    panels = list(table.groupby(["dataset", "partition"], sort=True))
    fig, axes = _panels(len(panels), width=max(4.2, 0.7 * table["algorithm"].nunique() + 1.5))
    for ax, ((dataset, partition), frame) in zip(axes, panels):
        labels = [a if v == "default" else f"{a} ({v})" for a, v in zip(frame["algorithm"], frame["variant"])]
        x = np.arange(len(frame))
        ax.bar(x - 0.2, 100 * frame["participating"], width=0.4, label="participating", color="C0")
        ax.bar(x + 0.2, 100 * frame["unseen"], width=0.4, label="unseen (joins after training)", color="C3")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{dataset} / {partition}")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    return _finish(fig, title)


def plot_client_size(metrics: pd.DataFrame, title: str = "", sizes: pd.DataFrame | None = None, eval_point: str = "local", **_) -> "Figure":
    """Per-client test accuracy against client training size, one panel per (dataset, partition), one colour per method.

    Each point is one client of one seed; the line joins each method's mean score per size
    decile, so a method that fails the smallest clients bends down at the left.
    """
    from matplotlib.ticker import NullFormatter, ScalarFormatter

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


from fhbench.reporting.diagnostics_figure import plot_diagnostics  # noqa: E402 - the registry below lists it
from fhbench.reporting.epfl_figures import plot_asymmetry, plot_layer_choice  # noqa: E402 - the registry below lists them

FIGURES: dict[str, Callable[..., "Figure"]] = {
    "convergence": plot_convergence,
    "heterogeneity": plot_heterogeneity,
    "communication": plot_communication,
    "client_spread": plot_client_spread,
    "ranks": plot_ranks,
    "mixing": plot_mixing_figure,
    "client_size": plot_client_size,
    "unseen": plot_unseen,
    "layers": plot_layer_choice,
    "asymmetry": plot_asymmetry,
    "diagnostics": plot_diagnostics,
}

#: Figure kinds drawn from the runs' ``mixing.csv`` (server matrices) instead of ``metrics.csv``.
MIXING_KINDS = ("mixing", "layers")
#: Figure kinds drawn from the runs' ``asymmetry.csv`` (fhbench.asymmetry).
ASYMMETRY_KINDS = ("asymmetry",)
#: Figure kinds that also read the runs' ``run.json`` (the clients' training sizes).
INFO_KINDS = ("client_size",)
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
        if kind not in MIXING_KINDS + DIAGNOSTICS_KINDS + ASYMMETRY_KINDS:  # every figure of the runs' metrics plots test accuracy
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
    fig, ax = plt.subplots(figsize=(6.4, 2.4), layout="constrained")
    ax.axis("off")
    ax.text(0.5, 0.5, note, ha="center", va="center", wrap=True, fontsize=10)
    return _finish(fig, title)
