"""The stratified client bootstrap behind paired differences and mean intervals, checked against a
plain loop over the same random draws, and the tie / higher / lower / inconclusive verdict at its edges.

The reference (:func:`plain_stratified_bootstrap`) is written from the method's description, not
from the code: columns in (dataset, partition) order, clients in client order within a column;
``np.random.default_rng(seed)`` draws every resample of the first column with two or more clients
(``integers(0, n, (n_boot, n))``, as ``scipy.stats.bootstrap`` does), then of the next; a column
with one client enters every replicate as it is; the interval is the linear-interpolation 2.5 %
and 97.5 % quantiles of the replicates (``scipy.stats.bootstrap``'s percentile method).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fhbench.reporting.selection import SelectionRule
from fhbench.reporting.stats import EQUIVALENCE_MARGIN, paired_difference, stratified_mean_interval, verdict
from tests.reporting.test_stats import client_frame

X, Y = ("x", "default"), ("y", "default")
SAME = {"rel": 1e-9, "abs": 1e-12}  # the same numbers up to summation order


def plain_stratified_bootstrap(columns, n_boot, seed, weights=None):
    """(estimate, lo, hi): mean over columns of each column's weighted client mean, resampled
    within columns by a plain loop over the draws described in the module docstring."""
    weights = weights or [[1.0] * len(values) for values in columns]

    def weighted_mean(values, w):
        return sum(v * u for v, u in zip(values, w)) / sum(w)

    estimate = sum(weighted_mean(v, w) for v, w in zip(columns, weights)) / len(columns)
    rng = np.random.default_rng(seed)
    draws = {k: rng.integers(0, len(v), (n_boot, len(v))) for k, v in enumerate(columns) if len(v) > 1}
    replicates = []
    for b in range(n_boot):
        per_column = []
        for k, (values, w) in enumerate(zip(columns, weights)):
            if k in draws:
                pick = draws[k][b]
                per_column.append(weighted_mean([values[i] for i in pick], [w[i] for i in pick]))
            else:
                per_column.append(weighted_mean(values, w))
        replicates.append(sum(per_column) / len(per_column))
    lo, hi = np.quantile(replicates, [0.025, 0.975])
    return estimate, float(lo), float(hi)


# Three dataset columns: one client, nine clients, two clients.
MIXED = {
    "a": ([0.9], [0.7]),
    "b": (
        [0.81, 0.62, 0.77, 0.90, 0.58, 0.69, 0.84, 0.73, 0.66],
        [0.70, 0.66, 0.52, 0.80, 0.61, 0.49, 0.79, 0.55, 0.68],
    ),
    "c": ([0.55, 0.71], [0.60, 0.50]),
}
MIXED_WEIGHTS = {"a": [50], "b": [120, 30, 75, 10, 64, 18, 90, 41, 27], "c": [40, 200]}


def differences(columns):
    return [list(np.subtract(x, y)) for _, (x, y) in sorted(columns.items())]


def test_paired_difference_matches_a_plain_loop_with_single_and_two_client_columns():
    """A single-client column enters every replicate unchanged while the others (two clients
    included) are resampled: the interval is the plain loop's, for equal and test-size weights."""
    frame = client_frame(MIXED, weights=MIXED_WEIGHTS)
    diffs = differences(MIXED)
    got = paired_difference(frame, X, Y, n_boot=400, seed=11)
    assert got["mean"] == pytest.approx((0.2 + 0.8 / 9 + 0.08) / 3)  # by hand: the three columns' mean differences
    estimate, lo, hi = plain_stratified_bootstrap(diffs, 400, 11)
    assert got["mean"] == pytest.approx(estimate, **SAME)
    assert got["lo"] == pytest.approx(lo, **SAME) and got["hi"] == pytest.approx(hi, **SAME)
    assert got["lo"] < got["mean"] < got["hi"] and got["n"] == 12 and got["n_columns"] == 3

    weighted = paired_difference(frame, X, Y, rule=SelectionRule(combine="sample_weighted"), n_boot=400, seed=11)
    w = [[float(v) for v in MIXED_WEIGHTS[d]] for d in sorted(MIXED)]
    estimate, lo, hi = plain_stratified_bootstrap(diffs, 400, 11, weights=w)
    assert weighted["mean"] == pytest.approx(estimate, **SAME)
    assert weighted["lo"] == pytest.approx(lo, **SAME) and weighted["hi"] == pytest.approx(hi, **SAME)


def test_two_clients_are_enough_to_resample_a_column():
    """A column of two clients that disagree gets a real interval, not the point estimate."""
    got = paired_difference(client_frame({"d": ([0.9, 0.5], [0.6, 0.6])}), X, Y, n_boot=300, seed=2)
    estimate, lo, hi = plain_stratified_bootstrap([[0.3, -0.1]], 300, 2)
    assert got["mean"] == pytest.approx(0.1) and estimate == pytest.approx(0.1)
    assert got["lo"] == pytest.approx(lo, **SAME) and got["hi"] == pytest.approx(hi, **SAME)
    assert lo < 0.1 < hi


# Enough clients with irregular differences that another seed or resample count moves the interval.
RICH = {
    "a": ([0.9], [0.7]),
    "b": (
        [0.28, 0.461, 0.122, 0.523, 0.409, 0.072, 0.099, 0.986, 0.694],
        [0.449, 0.64, 0.27, 0.302, 0.073, 0.053, 0.807, 0.813, 0.005],
    ),
    "c": ([0.33, 0.089, 0.468, 0.618, 0.551, 0.134], [0.702, 0.613, 0.467, 0.297, 0.918, 0.083]),
}


def test_paired_difference_defaults_are_2000_resamples_from_seed_0():
    """Findings quote intervals from the defaults: 2000 resamples drawn from seed 0, margin ±1 point."""
    got = paired_difference(client_frame(RICH), X, Y)
    estimate, lo, hi = plain_stratified_bootstrap(differences(RICH), 2000, 0)
    assert got["mean"] == pytest.approx(estimate, **SAME)
    assert got["lo"] == pytest.approx(lo, **SAME) and got["hi"] == pytest.approx(hi, **SAME)
    assert got["margin"] == EQUIVALENCE_MARGIN == 0.01


def test_paired_difference_does_not_depend_on_row_order():
    """The scores table read backwards (datasets, clients and methods in reverse) gives the same interval."""
    backwards = client_frame(RICH).iloc[::-1].reset_index(drop=True)
    got = paired_difference(backwards, X, Y, n_boot=300, seed=9)
    estimate, lo, hi = plain_stratified_bootstrap(differences(RICH), 300, 9)
    assert got["mean"] == pytest.approx(estimate, **SAME)
    assert got["lo"] == pytest.approx(lo, **SAME) and got["hi"] == pytest.approx(hi, **SAME)


def mean_units(columns: dict[str, list[float]], seeds=(0,)) -> pd.DataFrame:
    """Per-client rows of one value per seed (seed s adds 0.02 s), clients numbered 0..n-1 per dataset."""
    rows = [(d, "p", c, s, v + 0.02 * s) for d, values in columns.items() for c, v in enumerate(values) for s in seeds]
    return pd.DataFrame(rows, columns=["dataset", "partition", "client", "seed", "value"])


MEANS = {"a": [0.61, 0.72, 0.55, 0.8, 0.67, 0.59, 0.74, 0.63], "b": [0.3], "c": [0.45, 0.52, 0.38, 0.41]}


def test_stratified_mean_interval_defaults_are_2000_resamples_from_seed_0():
    """The mean over columns of the client means, with the interval of 2000 resamples from seed 0."""
    units = mean_units(MEANS, seeds=(0, 1))  # two seeds: each client's mean is its value + 0.01
    columns = [[v + 0.01 for v in MEANS[d]] for d in sorted(MEANS)]
    estimate, lo, hi, n = stratified_mean_interval(units)
    ref = plain_stratified_bootstrap(columns, 2000, 0)
    assert n == 13 and estimate == pytest.approx(ref[0], **SAME)
    assert lo == pytest.approx(ref[1], **SAME) and hi == pytest.approx(ref[2], **SAME)


def test_stratified_mean_interval_does_not_depend_on_row_order():
    """Rows in any order (here reversed: datasets and clients backwards) give the interval of the
    clients taken in client order: the same seed reproduces the same interval from any table."""
    units = mean_units(MEANS, seeds=(0, 1))
    shuffled = units.iloc[::-1].reset_index(drop=True)
    ref = plain_stratified_bootstrap([[v + 0.01 for v in MEANS[d]] for d in sorted(MEANS)], 500, 5)
    for table in (units, shuffled):
        estimate, lo, hi, n = stratified_mean_interval(table, n_boot=500, seed=5)
        assert n == 13 and estimate == pytest.approx(ref[0], **SAME)
        assert lo == pytest.approx(ref[1], **SAME) and hi == pytest.approx(ref[2], **SAME)


def test_numbers_held_in_object_columns_are_read_as_numbers():
    """Scores and test sizes in object columns (a frame assembled from mixed records) give the
    same intervals as float columns."""
    units = mean_units(MEANS)
    units["value"] = units["value"].astype(object)
    estimate, lo, hi, _ = stratified_mean_interval(units, n_boot=300, seed=1)
    ref = plain_stratified_bootstrap([MEANS[d] for d in sorted(MEANS)], 300, 1)
    assert (estimate, lo, hi) == (pytest.approx(ref[0], **SAME), pytest.approx(ref[1], **SAME), pytest.approx(ref[2], **SAME))

    frame = client_frame(MIXED, weights=MIXED_WEIGHTS)
    frame["weight"] = frame["weight"].astype(int).astype(object)
    got = paired_difference(frame, X, Y, rule=SelectionRule(combine="sample_weighted"), n_boot=300, seed=1)
    w = [[float(v) for v in MIXED_WEIGHTS[d]] for d in sorted(MIXED)]
    estimate, lo, hi = plain_stratified_bootstrap(differences(MIXED), 300, 1, weights=w)
    assert got["mean"] == pytest.approx(estimate, **SAME)
    assert got["lo"] == pytest.approx(lo, **SAME) and got["hi"] == pytest.approx(hi, **SAME)


def test_paired_difference_judges_at_the_callers_margin_and_reports_it():
    """Every client 3 points ahead: the interval is [0.03, 0.03]; a tie at margin 0.05, higher at the default 0.01."""
    frame = client_frame({"d": ([0.83, 0.73, 0.63], [0.8, 0.7, 0.6]), "e": ([0.53, 0.43], [0.5, 0.4])})
    wide = paired_difference(frame, X, Y, n_boot=200, margin=0.05)
    assert wide["lo"] == pytest.approx(0.03) and wide["hi"] == pytest.approx(0.03)
    assert wide["margin"] == 0.05 and wide["verdict"] == "tie" and wide["tie"] is True
    default = paired_difference(frame, X, Y, n_boot=200)
    assert default["margin"] == 0.01 and default["verdict"] == "higher" and default["tie"] is False


def test_paired_difference_without_the_first_method_is_empty_and_inconclusive():
    """Only the second method scored: no paired clients, so NaNs, zero counts and inconclusive (no KeyError)."""
    frame = client_frame({"d": ([0.8, 0.7], [0.6, 0.5])})
    got = paired_difference(frame, ("nope", "default"), Y)
    assert got["n"] == 0 and got["n_columns"] == 0 and all(np.isnan(got[k]) for k in ("mean", "lo", "hi"))
    assert got["verdict"] == "inconclusive" and got["tie"] is False


@pytest.mark.parametrize(
    "lo,hi,expected",
    [
        (-0.01, 0.005, "tie"),  # the margin's edges lie inside it
        (0.0, 0.01, "tie"),
        (-0.01, 0.01, "tie"),
        (0.0, 0.05, "inconclusive"),  # an interval that reaches zero does not exclude it
        (-0.05, 0.0, "inconclusive"),
        (1e-9, 0.05, "higher"),
        (-0.05, -1e-9, "lower"),
    ],
)
def test_verdict_at_the_edges_of_the_margin_and_of_zero(lo, hi, expected):
    assert verdict(lo, hi) == expected


@pytest.mark.parametrize("lo,hi", [(np.nan, np.nan), (0.02, np.nan), (np.nan, -0.02), (0.02, np.inf), (-np.inf, -0.02), (np.nan, 0.005)])
def test_verdict_of_an_undefined_interval_is_inconclusive(lo, hi):
    """An interval with a NaN or infinite end says nothing: inconclusive, whatever its other end."""
    assert verdict(lo, hi) == "inconclusive"


def test_verdict_uses_the_margin_it_is_given():
    assert verdict(-0.05, 0.05, margin=0.05) == "tie" and verdict(-0.05, 0.05) == "inconclusive"
    assert verdict(0.02, 0.04, margin=0.05) == "tie" and verdict(0.02, 0.04) == "higher"
