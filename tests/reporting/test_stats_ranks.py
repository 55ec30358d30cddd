"""Ranks, winners and the rank tests on the tables researchers read: the exact sentences RankTest
writes (numbers worked out by hand), the tolerance at which two methods count as the same, what
enters the score matrix, and the order and shape of the rank tables.

Expected values are hand calculations on tiny tables, Demšar (2006)'s q table, or scipy called
directly; never the function under test.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from fhbench.reporting.stats import (
    RankTest,
    average_ranks,
    bootstrap_ranks,
    column_ranks,
    column_winners,
    nemenyi_cd,
    rank_test,
    score_matrix,
)
from tests.reporting.test_stats import ranked_table

SCORE_COLUMNS = ["dataset", "partition", "algorithm", "variant", "seed", "client", "round", "value", "weight"]


def scores_frame(columns: dict[str, dict[tuple[str, str], list[float]]]) -> pd.DataFrame:
    """Per-client scores (one seed, weight 1): ``columns`` maps a dataset to {method: its clients' scores}."""
    rows = [
        (dataset, "p", algorithm, variant, 0, client, 4, value, 1.0)
        for dataset, methods in columns.items()
        for (algorithm, variant), values in methods.items()
        for client, value in enumerate(values)
    ]
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


# --- column_ranks, average_ranks, column_winners ---


def test_column_ranks_of_an_empty_table_are_an_empty_float_column():
    """A table with no cells yet still gets a numeric (float) rank column, so averaging it stays numeric."""
    empty = pd.DataFrame({"column": pd.Series([], dtype=str), "mean": pd.Series([], dtype=float)})
    ranks = column_ranks(empty)
    assert len(ranks) == 0 and ranks.dtype == np.float64


def test_average_ranks_keep_table_order_among_many_tied_methods():
    """Twenty methods in two tied groups (10 share ranks 1-10 = 5.5, 10 share 11-20 = 15.5 on each of two
    columns): the table lists the top group first, each group in the table's method order."""
    methods = [f"m{i:02d}" for i in range(20)]
    rank = [5.5 if i % 2 == 0 else 15.5 for i in range(20)]  # even methods scored higher on both columns
    table = pd.DataFrame({"dataset": ["d1"] * 20 + ["d2"] * 20, "method": methods * 2, "rank": rank * 2})
    out = average_ranks(table)
    assert out["method"].tolist() == methods[0::2] + methods[1::2]
    assert out["avg_rank"].tolist() == [5.5] * 10 + [15.5] * 10 and out["n_columns"].tolist() == [2] * 20


def test_column_winners_are_the_bold_dataset_cells_only():
    """Bold cells on dataset columns, ties included, in table order; the average column's bold cell is not a
    dataset win. The result is exactly (column, method) rows indexed 0..n-1."""
    table = pd.DataFrame(
        {
            "column": ["d0", "d0", "d1", "d1", "avg", "avg"],
            "dataset": ["d0", "d0", "d1", "d1", "average", "average"],
            "method": ["a", "b", "a", "b", "a", "b"],
            "best": [True, False, True, True, False, True],
        }
    )
    expected = pd.DataFrame({"column": ["d0", "d1", "d1"], "method": ["a", "a", "b"]})
    pd.testing.assert_frame_equal(column_winners(table), expected)


# --- nemenyi_cd, score_matrix ---


def test_nemenyi_cd_over_a_single_column_is_demsars_formula():
    """N = 1 is a valid block count for the formula: CD = q_0.05 √(k(k+1)/6) (q = 2.343 for 3 methods, 1.960 for 2)."""
    assert nemenyi_cd(3, 1) == pytest.approx(2.343 * np.sqrt(3 * 4 / 6), rel=1e-3)
    assert nemenyi_cd(2, 1) == pytest.approx(1.960 * np.sqrt(2 * 3 / 6), rel=1e-3)


def accuracy_like_table() -> pd.DataFrame:
    """Three dataset columns in reading order (not alphabetical), an average column, a reference row per column."""
    means = {"a": [0.90, 0.80, 0.70], "b": [0.85, 0.75, 0.72], "c": [0.60, 0.65, 0.50], "local (reference)": [0.99, 0.98, 0.97]}
    rows = [(col, col, m, v, m.endswith("(reference)")) for m, values in means.items() for col, v in zip(["mnist", "cifar", "ecg"], values)]
    rows += [("avg", "average", m, float(np.mean(values)), m.endswith("(reference)")) for m, values in means.items()]
    table = pd.DataFrame(rows, columns=["column", "dataset", "method", "mean", "reference"])
    table["rank"] = column_ranks(table)
    return table


def test_score_matrix_is_dataset_columns_by_ranked_methods_in_reading_order():
    """References and the average column stay out of the matrix a rank test reads; columns keep the table's
    reading order (mnist, cifar, ecg), methods their table order."""
    wide, left_out = score_matrix(accuracy_like_table())
    assert left_out == []
    assert wide.index.tolist() == ["mnist", "cifar", "ecg"] and wide.columns.tolist() == ["a", "b", "c"]
    assert wide.to_numpy().tolist() == [[0.90, 0.85, 0.60], [0.80, 0.75, 0.65], [0.70, 0.72, 0.50]]


def test_rank_test_of_a_table_with_averages_and_references_uses_dataset_columns_only():
    """Friedman over the 3 dataset columns of a, b, c: the same statistic as scipy on those means alone."""
    test = rank_test(accuracy_like_table())
    direct = scipy_stats.friedmanchisquare([0.90, 0.80, 0.70], [0.85, 0.75, 0.72], [0.60, 0.65, 0.50])
    assert (test.test, test.n_methods, test.n_columns) == ("friedman", 3, 3)
    assert test.statistic == pytest.approx(direct.statistic) and test.pvalue == pytest.approx(direct.pvalue)


# --- rank_test and RankTest.text: the sentences a reader sees ---


def test_friedman_sentence_when_one_method_leads_everywhere():
    """a > b > c on 8 columns: rank sums 8, 16, 24, so χ² = 12/(8·3·4)·(8² + 16² + 24²) − 3·8·4 = 16 on 2 df,
    p = exp(−16/2) = 0.000335; CD = 2.343 √(3·4/(6·8)) = 1.17. No reason is given for a test that ran."""
    test = rank_test(ranked_table({"a": [0.9] * 8, "b": [0.8] * 8, "c": [0.7] * 8}))
    assert test.reason == ""
    assert test.text() == (
        "Friedman test over 8 dataset columns and 3 methods: χ²(2) = 16.00, p = 0.000335, significant at 0.05; "
        "Nemenyi critical difference 1.17 ranks."
    )


def test_friedman_sentence_when_the_columns_disagree():
    """a > b > c on one column and c > b > a on the other: equal rank sums (4, 4, 4), χ² = 0, p = 1."""
    test = rank_test(ranked_table({"a": [0.9, 0.7], "b": [0.8, 0.8], "c": [0.7, 0.9]}))
    assert test.text() == (
        "Friedman test over 2 dataset columns and 3 methods: χ²(2) = 0.00, p = 1, not significant at 0.05: "
        "the methods' ranks are not told apart (no Nemenyi test)."
    )


def test_wilcoxon_sentence_when_one_method_wins_every_column():
    """a beats b on all 6 columns by distinct margins: W = 0 and the exact two-sided p = 2/2⁶ = 0.03125."""
    b = [0.50, 0.55, 0.60, 0.65, 0.70, 0.75]
    a = [v + d for v, d in zip(b, [0.01, 0.02, 0.03, 0.04, 0.05, 0.06])]
    test = rank_test(ranked_table({"a": a, "b": b}))
    assert test.reason == ""
    assert test.text() == "Wilcoxon signed-rank test of the two methods over 6 dataset columns: W = 0, p = 0.0312, significant at 0.05."


def test_wilcoxon_sentence_names_every_method_left_out():
    """Five columns won by a (p = 2/2⁵ = 0.0625, not significant); c and d lack a score somewhere and are named."""
    b = [0.50, 0.55, 0.60, 0.65, 0.70]
    means = {
        "a": [v + d for v, d in zip(b, [0.01, 0.02, 0.03, 0.04, 0.05])],
        "b": b,
        "c": [0.4, np.nan, 0.4, 0.4, 0.4],
        "d": [0.3, 0.3, 0.3, 0.3, np.nan],
    }
    test = rank_test(ranked_table(means))
    assert test.left_out == ["c", "d"]
    assert test.text() == (
        "Wilcoxon signed-rank test of the two methods over 5 dataset columns: W = 0, p = 0.0625, not significant at 0.05 "
        "(c, d left out: no score on every column)."
    )


def test_no_test_sentence_for_a_single_complete_method():
    """Only a has a score on every column: no test, and why, with b named as left out."""
    test = rank_test(ranked_table({"a": [0.5, 0.6, 0.7], "b": [0.4, np.nan, 0.6]}))
    assert test.test == "none" and test.reason == "1 ranked method(s) with a score on every column"
    assert test.text() == "No rank test: 1 ranked method(s) with a score on every column (b left out: no score on every column)."


def test_no_test_sentence_for_a_single_column():
    """One dataset column: no test over columns."""
    test = rank_test(ranked_table({"a": [0.5], "b": [0.4], "c": [0.3]}))
    assert test.text() == "No rank test: 1 dataset column(s); a test over columns needs several."


def test_hand_built_rank_tests_read_as_written():
    """The sentences for results built by hand, whatever produced them (a Wilcoxon with p = 0.004 is significant,
    with p = 0.2 not; a Friedman over 4 methods has 3 degrees of freedom)."""
    significant = RankTest("wilcoxon", 2, 9, statistic=1.0, pvalue=0.004)
    assert (
        significant.text() == "Wilcoxon signed-rank test of the two methods over 9 dataset columns: W = 1, p = 0.004, significant at 0.05."
    )
    weak = RankTest("wilcoxon", 2, 9, statistic=12.5, pvalue=0.2, left_out=["x", "y", "z"])
    assert weak.text() == (
        "Wilcoxon signed-rank test of the two methods over 9 dataset columns: W = 12.5, p = 0.2, not significant at 0.05 "
        "(x, y, z left out: no score on every column)."
    )
    friedman = RankTest("friedman", 4, 10, statistic=3.5, pvalue=0.321)
    assert friedman.text() == (
        "Friedman test over 10 dataset columns and 4 methods: χ²(3) = 3.50, p = 0.321, not significant at 0.05: "
        "the methods' ranks are not told apart (no Nemenyi test)."
    )
    none = RankTest("none", 1, 4, reason="1 ranked method(s) with a score on every column")
    assert none.text() == "No rank test: 1 ranked method(s) with a score on every column."


def test_friedman_of_equal_methods_is_undefined_and_says_why_without_a_warning():
    """Every method scores the same on every column: scipy's statistic is 0/0; the result is an undefined
    test with its reason, and scipy's RuntimeWarning does not reach the reader."""
    table = ranked_table({"a": [0.5, 0.6, 0.7], "b": [0.5, 0.6, 0.7], "c": [0.5, 0.6, 0.7]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        test = rank_test(table)
    assert test.test == "friedman" and np.isnan(test.pvalue) and test.reason == "every method scores the same on every column"
    assert test.text() == "Friedman test over 3 dataset columns: undefined (every method scores the same on every column)."


def test_wilcoxon_of_identical_methods_is_undefined_and_says_why():
    test = rank_test(ranked_table({"a": [0.5, 0.6, 0.7], "b": [0.5, 0.6, 0.7]}))
    assert test.reason == "the two methods score the same on every column"
    assert test.text() == "Wilcoxon test over 3 dataset columns: undefined (the two methods score the same on every column)."


def test_two_methods_within_the_printed_precision_are_the_same():
    """a − b = 0.00008 on all six columns: both print as the same score (0.01-point precision, 1e-4),
    so no Wilcoxon test is run on differences nobody can see in the table."""
    b = [0.49996, 0.59996, 0.69996, 0.79996, 0.89996, 0.39996]
    test = rank_test(ranked_table({"a": [v + 0.00008 for v in b], "b": b}))
    assert test.test == "wilcoxon" and np.isnan(test.pvalue)
    assert test.reason == "the two methods score the same on every column"


def test_two_methods_just_past_the_printed_precision_are_tested():
    """a − b between 0.000101 and 0.000106 (just over 1e-4, distinct) on six columns near 0.9: a tolerance
    relative to the score would swallow them; the Wilcoxon test runs: W = 0, exact p = 2/2⁶."""
    b = [0.90, 0.91, 0.92, 0.93, 0.94, 0.95]
    a = [v + d for v, d in zip(b, [0.000101, 0.000102, 0.000103, 0.000104, 0.000105, 0.000106])]
    test = rank_test(ranked_table({"a": a, "b": b}))
    direct = scipy_stats.wilcoxon(a, b)
    assert test.reason == "" and test.statistic == 0.0 and test.pvalue == pytest.approx(2 / 2**6)
    assert direct.pvalue == pytest.approx(2 / 2**6)


def test_rank_test_reads_means_stored_as_python_objects():
    """A method that diverged everywhere (means None) makes the concatenated mean column object dtype; the
    test still runs on the other two as numbers: a beats b on 5 columns, W = 0, p = 2/2⁵ = 0.0625."""
    scored = pd.DataFrame(
        {
            "column": [f"d{i}" for i in range(5)] * 2,
            "method": ["a"] * 5 + ["b"] * 5,
            "mean": [0.51, 0.62, 0.73, 0.84, 0.95, 0.50, 0.60, 0.70, 0.80, 0.90],
        }
    )
    diverged = pd.DataFrame({"column": [f"d{i}" for i in range(5)], "method": ["c"] * 5, "mean": [None] * 5})
    table = pd.concat([scored, diverged], ignore_index=True)
    assert table["mean"].dtype == object
    table["dataset"], table["reference"] = table["column"], False
    table["rank"] = column_ranks(table)
    test = rank_test(table)
    assert (test.test, test.n_methods, test.statistic) == ("wilcoxon", 2, 0.0) and test.pvalue == pytest.approx(0.0625)


# --- bootstrap_ranks ---


def test_bootstrap_ranks_of_methods_sharing_no_client_is_an_empty_table():
    """x scored only clients 0-1 and y only clients 2-3: no paired client, so an empty table (not NaN rows)."""
    frame = scores_frame({"d": {("x", "default"): [0.8, 0.7]}})
    other = scores_frame({"d": {("y", "default"): [0.6, 0.5]}}).assign(client=[2, 3])
    out = bootstrap_ranks(pd.concat([frame, other], ignore_index=True), [("x", "default"), ("y", "default")], n_boot=20)
    assert out.empty and list(out.columns) == ["algorithm", "variant", "avg_rank", "lo", "hi"]


def test_bootstrap_ranks_keep_a_variant_name_holding_a_bar_whole():
    """A variant named "lr=0.1|mu=0.01" comes back as (fedprox, lr=0.1|mu=0.01); the table is exactly
    (algorithm, variant, avg_rank, lo, hi) indexed 0..k-1, best first."""
    x, y = ("fedprox", "lr=0.1|mu=0.01"), ("fedavg", "default")
    out = bootstrap_ranks(scores_frame({"d": {y: [0.6, 0.5], x: [0.8, 0.7]}}), [y, x], n_boot=20)
    expected = pd.DataFrame(
        {
            "algorithm": ["fedprox", "fedavg"],
            "variant": ["lr=0.1|mu=0.01", "default"],
            "avg_rank": [1.0, 2.0],
            "lo": [1.0, 2.0],
            "hi": [1.0, 2.0],
        }
    )
    pd.testing.assert_frame_equal(out, expected, check_dtype=False)


def test_bootstrap_ranks_keep_the_given_order_among_many_tied_methods():
    """Twenty variants, even ones scoring 0.8 and odd ones 0.6 on every client: two tied groups (ranks 5.5 and
    15.5); the top group comes first, each group in the order the methods were given."""
    methods = [("alg", f"v{i:02d}") for i in range(20)]
    frame = scores_frame({"d": {m: [0.8, 0.8] if i % 2 == 0 else [0.6, 0.6] for i, m in enumerate(methods)}})
    out = bootstrap_ranks(frame, methods, n_boot=20)
    assert out["variant"].tolist() == [v for _, v in methods[0::2] + methods[1::2]]
    assert out["avg_rank"].tolist() == [5.5] * 10 + [15.5] * 10


def test_bootstrap_rank_intervals_by_default_are_scipys_1000_resamples_from_seed_0():
    """The default interval (what the rank figure draws) is reproducible: scipy's percentile bootstrap with 1000
    resamples and rng=0, each dataset column's clients resampled on their own (columns in dataset order, clients
    in id order), ranking the methods' column means (1 = best) and averaging the ranks over columns."""
    rng = np.random.default_rng(5)
    methods = [("x", "default"), ("y", "default"), ("z", "default")]
    values = {f"d{j}": rng.uniform(0.6, 0.7, size=(4, 3)) for j in range(4)}  # clients × methods
    frame = scores_frame({d: {m: list(v[:, i]) for i, m in enumerate(methods)} for d, v in values.items()})
    columns = [values[d] for d in sorted(values)]

    def average_rank(*clients, axis=-1):
        ranks = [scipy_stats.rankdata(-v[i].mean(axis=-2).round(4), axis=-1) for v, i in zip(columns, clients)]
        return np.moveaxis(np.mean(ranks, axis=0), -1, 0)

    data = [np.arange(len(v)) for v in columns]
    direct = scipy_stats.bootstrap(data, average_rank, n_resamples=1000, vectorized=True, paired=False, method="percentile", rng=0)
    point = average_rank(*data)
    out = bootstrap_ranks(frame, methods).set_index("algorithm").loc[["x", "y", "z"]]
    assert out["avg_rank"].to_numpy() == pytest.approx(point)
    assert out["lo"].to_numpy() == pytest.approx(direct.confidence_interval.low)
    assert out["hi"].to_numpy() == pytest.approx(direct.confidence_interval.high)
