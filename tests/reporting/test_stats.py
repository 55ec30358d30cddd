"""Ranks with ties, the Nemenyi critical difference and paired bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fhbench.reporting.stats import average_ranks, bootstrap_interval, bootstrap_ranks, column_ranks, nemenyi_cd, paired_difference


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


def scores(diffs_a, diffs_b):
    rows = []
    for c, (a, b) in enumerate(zip(diffs_a, diffs_b)):
        rows.append(("d", "p", "x", "default", 0, c, 1, a))
        rows.append(("d", "p", "y", "default", 0, c, 1, b))
    return pd.DataFrame(rows, columns=["dataset", "partition", "algorithm", "variant", "seed", "client", "best_round", "value"])


def test_paired_difference_calls_a_tie_when_the_interval_holds_zero():
    clear = paired_difference(scores([0.8, 0.7, 0.9, 0.85], [0.6, 0.5, 0.7, 0.65]), ("x", "default"), ("y", "default"))
    assert clear["mean"] == pytest.approx(0.2) and clear["lo"] == pytest.approx(0.2) and not clear["tie"] and clear["n"] == 4
    noisy = paired_difference(scores([0.6, 0.4, 0.7, 0.3], [0.5, 0.5, 0.5, 0.5]), ("x", "default"), ("y", "default"))
    assert noisy["lo"] < 0 < noisy["hi"] and noisy["tie"]


def test_bootstrap_interval_covers_the_mean_and_repeats():
    values = np.array([0.1, 0.2, 0.3, 0.4])
    lo, hi = bootstrap_interval(values)
    assert lo <= values.mean() <= hi and (lo, hi) == bootstrap_interval(values)


def test_bootstrap_ranks_point_estimate():
    frame = scores([0.8, 0.7, 0.9], [0.6, 0.5, 0.7])
    ranks = bootstrap_ranks(frame, [("x", "default"), ("y", "default")], n_boot=50)
    assert list(ranks["algorithm"]) == ["x", "y"] and list(ranks["avg_rank"]) == [1.0, 2.0]
    assert (ranks["lo"] <= ranks["avg_rank"]).all() and (ranks["avg_rank"] <= ranks["hi"]).all()
