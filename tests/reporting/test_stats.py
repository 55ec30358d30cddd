"""Ranks with ties, the rank tests in their conditions (against scipy called directly), and the
stratified client bootstrap with its tie / inconclusive verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from fhbench.reporting.selection import SelectionRule
from fhbench.reporting.stats import (
    EQUIVALENCE_MARGIN,
    average_ranks,
    bootstrap_ranks,
    column_ranks,
    nemenyi_cd,
    paired_difference,
    rank_test,
    stratified_mean_interval,
    verdict,
)


def test_column_ranks_share_ties_and_skip_references():
    table = pd.DataFrame(
        {
            "column": ["a"] * 4 + ["b"] * 4,
            "dataset": ["a"] * 4 + ["b"] * 4,
            "method": ["x", "y", "z", "local (reference)"] * 2,
            "mean": [0.5, 0.5, 0.4, 0.9, 0.3, 0.2, 0.1, 0.9],
            "reference": [False, False, False, True] * 2,
        }
    )
    table["rank"] = column_ranks(table)
    assert list(table["rank"][:3]) == [1.5, 1.5, 3.0] and np.isnan(table["rank"][3])
    avg = average_ranks(table).set_index("method")["avg_rank"]
    assert avg["x"] == pytest.approx(1.25) and avg["y"] == pytest.approx(1.75) and avg["z"] == 3.0


def test_nemenyi_cd_matches_demsar_table():
    # Demšar (2006), Table 5: q_0.05 = 2.343 for 3 methods, 3.164 for 10.
    assert nemenyi_cd(3, 10) == pytest.approx(2.343 * np.sqrt(3 * 4 / 60), rel=1e-3)
    assert nemenyi_cd(10, 9) == pytest.approx(3.164 * np.sqrt(10 * 11 / 54), rel=1e-3)
    assert np.isnan(nemenyi_cd(1, 5))


def ranked_table(means: dict[str, list[float]]) -> pd.DataFrame:
    """A tidy table (one row per column × method) with ranks, as accuracy_table makes it."""
    rows = [(f"d{i}", m, v) for m, values in means.items() for i, v in enumerate(values)]
    table = pd.DataFrame(rows, columns=["column", "method", "mean"])
    table["dataset"], table["reference"] = table["column"], False
    table["rank"] = column_ranks(table)
    return table


def test_friedman_first_and_nemenyi_only_when_it_is_significant():
    rng = np.random.default_rng(0)
    strong = {"a": list(0.8 + 0.01 * rng.random(8)), "b": list(0.6 + 0.01 * rng.random(8)), "c": list(0.4 + 0.01 * rng.random(8))}
    test = rank_test(ranked_table(strong))
    direct = scipy_stats.friedmanchisquare(*[strong[m] for m in ("a", "b", "c")])
    assert test.test == "friedman" and test.statistic == pytest.approx(direct.statistic) and test.pvalue == pytest.approx(direct.pvalue)
    assert test.significant and test.cd == pytest.approx(nemenyi_cd(3, 8))
    assert "Nemenyi critical difference" in test.text()
    noise = {m: list(0.5 + 0.1 * rng.random(8)) for m in ("a", "b", "c")}
    weak = rank_test(ranked_table(noise))
    direct = scipy_stats.friedmanchisquare(*[noise[m] for m in ("a", "b", "c")])
    assert weak.pvalue == pytest.approx(direct.pvalue) and direct.pvalue > 0.05
    assert not weak.significant and np.isnan(weak.cd) and "no Nemenyi test" in weak.text()


def test_two_methods_get_wilcoxon_over_columns_and_no_critical_difference():
    means = {"a": [0.81, 0.72, 0.93, 0.64, 0.75, 0.86, 0.57], "b": [0.70, 0.70, 0.80, 0.60, 0.70, 0.80, 0.60]}
    test = rank_test(ranked_table(means))
    direct = scipy_stats.wilcoxon(means["a"], means["b"])
    assert test.test == "wilcoxon" and test.statistic == direct.statistic and test.pvalue == pytest.approx(direct.pvalue)
    assert np.isnan(test.cd) and "Wilcoxon signed-rank" in test.text()


def test_rank_test_refuses_what_it_cannot_test():
    assert rank_test(ranked_table({"a": [0.5, 0.6], "b": [0.4, 0.5], "c": [0.3, 0.4]})).test == "friedman"
    one_column = rank_test(ranked_table({"a": [0.5], "b": [0.4], "c": [0.3]}))
    assert one_column.test == "none" and "1 dataset column" in one_column.text()
    same = rank_test(ranked_table({"a": [0.5, 0.6], "b": [0.5, 0.6]}))
    assert same.test == "wilcoxon" and np.isnan(same.pvalue) and "undefined" in same.text()
    # A method without a score on every column is left out, and named.
    table = ranked_table({"a": [0.5, 0.6, 0.7], "b": [0.4, 0.5, 0.6], "c": [0.3, 0.4, np.nan]})
    test = rank_test(table)
    assert test.test == "wilcoxon" and test.left_out == ["c"] and "c left out" in test.text()


@pytest.mark.parametrize(
    "lo,hi,expected",
    [(-0.005, 0.008, "tie"), (0.002, 0.009, "tie"), (0.02, 0.05, "higher"), (-0.05, -0.02, "lower"), (-0.005, 0.03, "inconclusive")],
)
def test_verdict_calls_a_tie_only_inside_the_margin(lo, hi, expected):
    assert EQUIVALENCE_MARGIN == 0.01
    assert verdict(lo, hi) == expected


def client_frame(columns: dict[str, tuple[list[float], list[float]]], seeds=(0,), weights=None) -> pd.DataFrame:
    """Per-client scores of methods x and y: ``columns`` maps a dataset to (x scores, y scores)."""
    rows = []
    for dataset, (xs, ys) in columns.items():
        for c, (a, b) in enumerate(zip(xs, ys)):
            w = float(weights[dataset][c]) if weights else 1.0
            for s in seeds:
                rows.append((dataset, "p", "x", "default", s, c, 4, a + 0.01 * s, w))
                rows.append((dataset, "p", "y", "default", s, c, 4, b + 0.01 * s, w))
    return pd.DataFrame(rows, columns=["dataset", "partition", "algorithm", "variant", "seed", "client", "round", "value", "weight"])


def test_one_column_interval_is_scipys_percentile_bootstrap_of_the_mean():
    x = [0.8, 0.7, 0.9, 0.85, 0.6, 0.75]
    y = [0.6, 0.75, 0.7, 0.65, 0.62, 0.5]
    got = paired_difference(client_frame({"d": (x, y)}), ("x", "default"), ("y", "default"), n_boot=500, seed=3)
    diffs = np.subtract(x, y)
    direct = scipy_stats.bootstrap((diffs,), np.mean, n_resamples=500, method="percentile", rng=3).confidence_interval
    assert got["mean"] == pytest.approx(diffs.mean()) and got["n"] == 6 and got["n_columns"] == 1
    assert got["lo"] == pytest.approx(direct.low) and got["hi"] == pytest.approx(direct.high)


def test_clients_are_resampled_within_their_dataset_and_seeds_average_first():
    # Each dataset's clients agree with each other: resampling within datasets leaves no spread,
    # although the differences disagree across datasets (pooled resampling would spread them).
    frame = client_frame({"a": ([0.9, 0.9, 0.9], [0.8, 0.8, 0.8]), "b": ([0.5, 0.5], [0.6, 0.6])}, seeds=(0, 1, 2))
    got = paired_difference(frame, ("x", "default"), ("y", "default"))
    assert got["mean"] == pytest.approx(0.0) and got["lo"] == pytest.approx(0.0) and got["hi"] == pytest.approx(0.0)
    assert got["n"] == 5 and got["n_columns"] == 2  # clients, not client × seed rows
    assert got["verdict"] == "tie" and got["tie"]


def test_sample_weighted_differences_weight_clients_by_test_size():
    frame = client_frame({"a": ([1.0, 0.0], [0.0, 0.0])}, weights={"a": [3, 1]})
    assert paired_difference(frame, ("x", "default"), ("y", "default"))["mean"] == pytest.approx(0.5)
    weighted = paired_difference(frame, ("x", "default"), ("y", "default"), rule=SelectionRule(combine="sample_weighted"))
    assert weighted["mean"] == pytest.approx(0.75)


def test_clear_noisy_and_equal_differences_get_their_verdicts():
    clear = paired_difference(client_frame({"d": ([0.8, 0.7, 0.9, 0.85], [0.6, 0.5, 0.7, 0.65])}), ("x", "default"), ("y", "default"))
    assert clear["lo"] == pytest.approx(0.2) and clear["verdict"] == "higher" and not clear["tie"]
    noisy = paired_difference(client_frame({"d": ([0.6, 0.4, 0.7, 0.3], [0.5, 0.5, 0.5, 0.5])}), ("x", "default"), ("y", "default"))
    assert noisy["lo"] < 0 < noisy["hi"] and noisy["verdict"] == "inconclusive" and not noisy["tie"]


def test_bootstrap_ranks_point_estimate():
    frame = client_frame({"d": ([0.8, 0.7, 0.9], [0.6, 0.5, 0.7]), "e": ([0.1, 0.2, 0.3], [0.6, 0.5, 0.7])})
    ranks = bootstrap_ranks(frame, [("x", "default"), ("y", "default")], n_boot=50)
    assert list(ranks["avg_rank"]) == [1.5, 1.5]
    assert (ranks["lo"] <= ranks["avg_rank"]).all() and (ranks["avg_rank"] <= ranks["hi"]).all()
    one = bootstrap_ranks(frame[frame.dataset == "d"], [("x", "default"), ("y", "default")], n_boot=50)
    assert list(one["algorithm"]) == ["x", "y"] and list(one["avg_rank"]) == [1.0, 2.0] and list(one["hi"]) == [1.0, 2.0]


def test_column_ranks_without_a_reference_column_rank_every_scored_row():
    """A table with no ``reference`` column ranks every row with a mean (float ranks, NaN for a missing mean)."""
    table = pd.DataFrame({"column": ["a", "a", "a", "b", "b"], "mean": [0.2, 0.7, np.nan, 0.1, 0.3]})
    ranks = column_ranks(table)
    assert ranks.dtype == float
    assert ranks.tolist()[:2] == [2.0, 1.0] and np.isnan(ranks[2]) and ranks.tolist()[3:] == [2.0, 1.0]


def test_average_ranks_leave_out_average_columns_and_keep_first_seen_order_on_ties():
    """Average columns and unranked cells do not count; n_columns counts ranked cells; equal averages keep the
    table's method order; the result is a plain frame (method, avg_rank, n_columns) indexed 0..k-1."""
    table = pd.DataFrame(
        {
            "dataset": ["d1", "d1", "d1", "d2", "d2", "d2", "average", "average", "average"],
            "method": ["z", "a", "m", "z", "a", "m", "z", "a", "m"],
            "rank": [1.0, 2.0, 3.0, 2.0, 1.0, np.nan, 3.0, 2.0, 1.0],
        }
    )
    out = average_ranks(table)
    assert list(out.columns) == ["method", "avg_rank", "n_columns"] and list(out.index) == [0, 1, 2]
    assert out["method"].tolist() == ["z", "a", "m"]  # z and a tie at 1.5: table order, not alphabetical
    assert out["avg_rank"].tolist() == [1.5, 1.5, 3.0] and out["n_columns"].tolist() == [2, 2, 1]


def test_nemenyi_cd_bounds_and_alpha():
    """Two methods have a CD (q = 1.960 in Demšar's table); no columns or one method give NaN; alpha picks q."""
    assert nemenyi_cd(2, 4) == pytest.approx(1.960 * np.sqrt(2 * 3 / 24), rel=1e-3)
    assert np.isnan(nemenyi_cd(3, 0)) and np.isnan(nemenyi_cd(1, 0))
    # Demšar (2006), Table 5(b): q_0.10 = 2.052 for 3 methods.
    assert nemenyi_cd(3, 10, alpha=0.10) == pytest.approx(2.052 * np.sqrt(3 * 4 / 60), rel=1e-3)


def test_paired_difference_of_a_missing_method_is_empty_and_inconclusive():
    """No paired clients: NaN estimate and interval, zero counts, inconclusive, not a tie."""
    frame = client_frame({"d": ([0.8, 0.7], [0.6, 0.5])})
    got = paired_difference(frame, ("x", "default"), ("nope", "default"))
    assert got["n"] == 0 and got["n_columns"] == 0 and got["margin"] == EQUIVALENCE_MARGIN
    assert all(np.isnan(got[k]) for k in ("mean", "lo", "hi"))
    assert got["verdict"] == "inconclusive" and got["tie"] is False
    frame.loc[frame["client"] == 0, "weight"] = np.nan  # client 0 has no test size
    with pytest.raises(ValueError, match="test size"):
        paired_difference(frame, ("x", "default"), ("y", "default"), rule=SelectionRule(combine="sample_weighted"))


def test_bootstrap_ranks_of_unknown_methods_is_an_empty_table_with_its_columns():
    """Methods without scores give an empty table that still has the columns callers read."""
    out = bootstrap_ranks(client_frame({"d": ([0.8], [0.6])}), [("nope", "default")])
    assert out.empty and list(out.columns) == ["algorithm", "variant", "avg_rank", "lo", "hi"]


def test_stratified_mean_interval_by_hand():
    """Empty units give NaNs and 0; one unit per column is not resampled (interval = estimate = mean of column means)."""
    assert all(np.isnan(v) for v in stratified_mean_interval(pd.DataFrame())[:3])
    assert stratified_mean_interval(pd.DataFrame())[3] == 0
    runs = pd.DataFrame({"dataset": ["a", "b"], "partition": ["p", "p"], "seed": [0, 0], "value": [0.2, 0.6]})
    assert stratified_mean_interval(runs) == (pytest.approx(0.4), pytest.approx(0.4), pytest.approx(0.4), 2)
