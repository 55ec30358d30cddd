"""Figures from tiny hand-made tidy metrics: the numbers behind each plot and the files written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fhbench.metrics import at_eval_point
from fhbench.reporting.figures import (
    FIGURES,
    client_accuracies,
    communication_points,
    convergence_curves,
    heterogeneity_points,
    make_figure,
    missing_clients,
    plot_client_spread,
    plot_communication,
    plot_convergence,
    plot_heterogeneity,
    plot_ranks,
)
from tests.reporting.tidy import tidy_metrics

ALPHAS = {"dir0.1": 0.1, "dir1": 1.0, "dir10": 10.0}


def score(dataset, partition, algorithm, variant, seed):
    alpha = ALPHAS.get(partition, 1.0)
    return (0.8 if algorithm == "epfl" else 0.6) + 0.01 * np.log10(alpha) + 0.02 * seed


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


@pytest.fixture(scope="module")
def main_metrics():
    runs = [(d, "fhbench", a, "default", s) for d in ("ds1", "ds2") for a in ("fedavg", "epfl") for s in (0, 1)]
    return tidy_metrics(runs, score, rounds=6, clients=4)


def test_convergence_curve_values(main_metrics):
    curves = convergence_curves(main_metrics)
    last = curves[(curves.dataset == "ds1") & (curves.algorithm == "epfl") & (curves["round"] == 6)].iloc[0]
    assert last["mean"] == pytest.approx(0.81)  # mean over seeds of 0.80 and 0.82
    first = curves[(curves.dataset == "ds1") & (curves.algorithm == "epfl") & (curves["round"] == 1)].iloc[0]
    assert first["mean"] == pytest.approx(0.81 * (0.5 + 0.5 / 6))


def test_plot_convergence_one_panel_per_dataset_one_line_per_method(main_metrics):
    fig = plot_convergence(main_metrics, title="t")
    axes = visible_axes(fig)
    assert len(axes) == 2
    assert [len(ax.get_lines()) for ax in axes] == [2, 2]
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == ["epfl", "fedavg"]  # one legend under the panels


def test_heterogeneity_points_and_plot():
    runs = [("ds1", p, a, "default", s) for p in ALPHAS for a in ("fedavg", "epfl") for s in (0, 1)]
    metrics = tidy_metrics(runs, score)
    points = heterogeneity_points(metrics, ALPHAS)
    row = points[(points.algorithm == "epfl") & (points.alpha == 10.0)].iloc[0]
    assert row["mean"] == pytest.approx(0.8 + 0.01 + 0.01)
    fig = plot_heterogeneity(metrics, alphas=ALPHAS)
    (ax,) = visible_axes(fig)
    assert ax.get_xscale() == "log"
    xs = sorted(ax.get_lines()[0].get_xdata())
    assert xs == [0.1, 1.0, 10.0]
    with pytest.raises(ValueError, match="dir1"):
        heterogeneity_points(metrics, {"dir0.1": 0.1, "dir10": 10.0})


def test_communication_points_sum_bytes_over_rounds_and_clients():
    runs = [("ds1", "fhbench", a, v, 0) for a in ("fedavg", "epfl") for v in ("rank4", "default", "rank16")]
    size = {"rank4": 100, "default": 200, "rank16": 400}
    metrics = tidy_metrics(runs, score, rounds=3, clients=2, bytes_per_client=lambda a, v: size[v])
    points = communication_points(metrics)
    row = points[(points.algorithm == "epfl") & (points.variant == "rank16")].iloc[0]
    assert row["bytes"] == 400 * 2 * 3 * 2  # up + down, clients, rounds
    fig = plot_communication(metrics)
    (ax,) = visible_axes(fig)
    assert {t.get_text() for t in ax.texts} == {"rank4", "default", "rank16"}


def test_client_accuracies_keep_at_most_max_rounds_and_the_last():
    metrics = tidy_metrics([("ds1", "p", "fedavg", "default", 0)], score, rounds=20, clients=4)
    kept = sorted(client_accuracies(metrics, max_rounds=5)["round"].unique())
    assert len(kept) == 5 and kept[0] == 1 and kept[-1] == 20


def test_plot_client_spread_draws_a_box_per_round_and_method(main_metrics):
    fig = plot_client_spread(main_metrics, max_rounds=3)
    axes = visible_axes(fig)
    assert len(axes) == 2
    assert len(axes[0].patches) == 3 * 2  # rounds × methods


@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_make_figure_writes_non_blank_pdf_and_png(kind, tmp_path, main_metrics):
    import matplotlib.image

    if kind == "heterogeneity":
        metrics = tidy_metrics([("ds1", p, a, "default", 0) for p in ALPHAS for a in ("fedavg", "epfl")], score)
    elif kind == "mixing":  # drawn from the runs' mixing.csv, not from metrics
        from tests.test_mixing import frame_for

        metrics = frame_for(np.full((3, 3), 1 / 3), [np.array([0]), np.array([1]), np.array([1])])
    elif kind == "diagnostics":  # drawn from the runs' diagnostics.csv
        import pandas as pd

        from fhbench.diagnostics import DIAGNOSTICS_COLUMNS, QUANTITIES

        rows = [
            ("ds1", "fhbench", a, "default", 0, r, c if q != "lora_A_spread" else -1, q, 0.1 / r)
            for a in ("fedavg", "epfl")
            for r in (1, 2, 3)
            for c in range(3)
            for q in QUANTITIES
        ]
        metrics = pd.DataFrame(rows, columns=DIAGNOSTICS_COLUMNS)
    else:
        metrics = main_metrics
    pdf, png = tmp_path / f"{kind}.pdf", tmp_path / f"{kind}.png"
    make_figure(kind, metrics, [pdf, png], title=kind, alphas=ALPHAS)
    assert pdf.read_bytes().startswith(b"%PDF")
    pixels = matplotlib.image.imread(png)
    assert pixels.std() > 0.01  # not a blank canvas


def test_make_figure_unknown_kind(tmp_path, main_metrics):
    with pytest.raises(KeyError, match="registered"):
        make_figure("nope", main_metrics, [tmp_path / "x.pdf"])


@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_figure_of_runs_that_all_diverged_is_drawn_with_a_note(tmp_path, kind):
    """Every run diverged before its first evaluation: only non-finite training losses, no scores."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from fhbench.metrics import METRIC_COLUMNS

    rows = [("organamnist", "dir0.1", a, "default", 0, 1, c, "train", "loss", float("nan")) for a in ("fedavg", "epfl") for c in range(2)]
    outputs = [tmp_path / f"{kind}.pdf", tmp_path / f"{kind}.png"]
    texts = []
    original = plt.Figure.savefig

    def spy(fig, *args, **kwargs):  # the note is the figure's text
        texts.extend(t.get_text() for ax in fig.axes for t in ax.texts)
        return original(fig, *args, **kwargs)

    plt.Figure.savefig = spy
    try:
        from fhbench.diagnostics import DIAGNOSTICS_COLUMNS
        from fhbench.mixing import MIXING_COLUMNS
        from fhbench.reporting.figures import DIAGNOSTICS_KINDS, MIXING_KINDS

        if kind in MIXING_KINDS:  # a diverged run's mixing.csv holds only its header
            frame = pd.DataFrame([], columns=MIXING_COLUMNS)
        elif kind in DIAGNOSTICS_KINDS:  # and so does its diagnostics.csv when no round ended
            frame = pd.DataFrame([], columns=DIAGNOSTICS_COLUMNS)
        else:
            frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
        make_figure(kind, frame, outputs, title="all diverged", alphas=ALPHAS)
    finally:
        plt.Figure.savefig = original
    assert all(p.stat().st_size > 0 for p in outputs)
    assert any("diverged" in t for t in texts)


def test_clients_without_test_rows_are_counted_and_named(main_metrics):
    metrics = main_metrics.copy()
    gone = (metrics.dataset == "ds1") & (metrics.split == "test") & (metrics.client == 3)
    metrics.loc[gone, "value"] = float("nan")  # an empty test part scores NaN
    assert missing_clients(metrics)[("ds1", "fhbench")] == ([3], 4)
    for plot in (plot_client_spread, plot_convergence):
        fig = plot(metrics)
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert "no test rows: 1 of 4 clients (3)" in texts
        assert sum("no test rows" in t for t in texts) == 1  # ds2 has every client


def test_rank_plot_with_two_methods_writes_wilcoxon_and_draws_no_critical_difference(main_metrics):
    fig = plot_ranks(main_metrics)
    ax = fig.axes[0]
    labels = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}
    assert set(labels) == {"fedavg", "epfl"} and labels["epfl"] > labels["fedavg"]  # best (rank 1) on top
    assert "Wilcoxon signed-rank" in ax.get_title() and "Nemenyi" not in ax.get_title() and ax.get_legend() is None
    assert not [line for line in ax.get_lines() if line.get_linewidth() == 3]  # no CD bar


def test_rank_plot_draws_the_critical_difference_only_after_a_significant_friedman_test():
    level = {"a": 0.8, "b": 0.6, "c": 0.4}
    runs = [(f"ds{i}", "fhbench", m, "default", 0) for i in range(8) for m in level]
    fig = plot_ranks(tidy_metrics(runs, lambda d, p, a, v, s: level[a] + 0.001 * int(d[2:])))
    title = fig.axes[0].get_title().replace("\n", " ")
    assert "Friedman test" in title and "significant at 0.05; Nemenyi critical difference" in title
    bars = [line for line in fig.axes[0].get_lines() if line.get_linewidth() == 3]
    assert len(bars) == 1
    width = np.ptp(bars[0].get_xdata())
    from fhbench.reporting.stats import nemenyi_cd

    assert width == pytest.approx(nemenyi_cd(3, 8))


def test_figures_draw_the_chosen_evaluation_point(main_metrics):
    received = main_metrics[main_metrics.split.isin(["val", "test"])].assign(eval_point="received", value=0.1)
    both = pd.concat([main_metrics.assign(eval_point="local"), received], ignore_index=True)
    local_curves = convergence_curves(at_eval_point(both, "local"))
    assert local_curves.equals(convergence_curves(main_metrics))
    assert (convergence_curves(at_eval_point(both, "received"))["mean"] == 0.1).all()
