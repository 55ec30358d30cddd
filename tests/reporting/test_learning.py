"""REPORT.md's "Does it learn?" section: the centralized reference against the label priors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fhbench.metrics import FILE_COLUMNS
from fhbench.reporting.learning import centralized_margin
from fhbench.reporting.priors import GLOBAL_PRIOR, LOCAL_PRIOR, prior_rows

from .tidy import tidy_metrics

# Pooled training labels: class 1 is the global majority; test parts [0, 1] and [1]: the global
# prior (class 1) scores 0.5 and 1.0, mean 0.75.
LABELS = np.array([0, 0, 0, 1, 1, 1, 1, 2, 0, 1, 2, 2, 0, 1, 1])
SPLIT = {"clients": [{"train": [0, 1, 2], "val": [8, 9], "test": [12, 13]}, {"train": [3, 4, 5, 6, 7], "val": [10, 11], "test": [14]}]}


def priors_of(*pairs):
    rows = [row for dataset, partition in pairs for row in prior_rows(LABELS, SPLIT, dataset, partition)]
    return pd.DataFrame(rows, columns=FILE_COLUMNS)


def test_margin_is_the_reference_minus_the_global_prior_on_the_pairs_the_experiment_ran():
    # The hand-made runs' protocol score is exactly the score below (tests/reporting/tidy.py).
    metrics = tidy_metrics([("ds", "fhbench", a, "default", 0) for a in ("centralized", "fedavg")], lambda d, p, a, v, s: 0.9)
    metrics["eval_point"] = "local"
    # Priors of a split no run of this experiment used (another experiment's) stay out.
    margins = centralized_margin(metrics, priors_of(("ds", "fhbench"), ("ds", "balanced"))).set_index(["dataset", "partition"])
    assert list(margins.index) == [("ds", "fhbench")]
    row = margins.loc[("ds", "fhbench")]
    # Local prior: client 0 predicts its own majority 0 (test [0, 1]: 0.5), client 1 its own 1 (test [1]: 1.0).
    assert row[GLOBAL_PRIOR] == pytest.approx(0.75) and row[LOCAL_PRIOR] == pytest.approx(0.75)
    assert row["centralized"] == pytest.approx(0.9) and row["margin"] == pytest.approx(0.9 - 0.75)


def test_a_pair_without_the_reference_is_shown_as_not_run():
    from fhbench.reporting.learning import _pct, _points

    metrics = tidy_metrics([("ds", "fhbench", "fedavg", "default", 0)], lambda d, p, a, v, s: 0.9)
    metrics["eval_point"] = "local"
    row = centralized_margin(metrics, priors_of(("ds", "fhbench"))).iloc[0]
    assert np.isnan(row["centralized"]) and _pct(row["centralized"]) == "not run" and _points(row["margin"]) == "–"
