"""Label-prior reference rows: computed from a split without training, tabled as references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fhbench.reporting.priors import GLOBAL_PRIOR, LOCAL_PRIOR, prior_predictions, prior_rows, with_priors
from fhbench.reporting.tables import accuracy_table, to_markdown

from .tidy import tidy_metrics

# Pooled training labels: class 0 ×3, class 1 ×4, class 2 ×1 → the global majority is 1.
LABELS = np.array([0, 0, 0, 1, 1, 1, 1, 2, 0, 1, 2, 2, 0, 1, 2])
SPLIT = {
    "clients": [
        {"train": [0, 1, 2], "val": [8, 9], "test": [12, 13]},  # own majority 0
        {"train": [3, 4, 5, 6, 7], "val": [10, 11], "test": [14]},  # own majority 1
    ]
}


def test_local_and_global_majorities():
    predicted = prior_predictions(LABELS, SPLIT["clients"])
    assert predicted[LOCAL_PRIOR] == [0, 1]
    assert predicted[GLOBAL_PRIOR] == [1, 1]


def test_ties_go_to_the_lowest_class_and_an_empty_client_predicts_the_global_majority():
    labels = np.array([2, 1, 1, 2, 0])
    clients = [{"train": [0, 1], "val": [], "test": []}, {"train": [], "val": [4], "test": []}, {"train": [2, 3], "val": [], "test": []}]
    predicted = prior_predictions(labels, clients)
    assert predicted[LOCAL_PRIOR] == [1, 1, 1]  # client 0: tie 1/2 → 1; client 1: no rows → pooled 1 (tie 1/2 → 1)
    assert predicted[GLOBAL_PRIOR] == [1, 1, 1]


def test_rows_score_each_client_on_its_own_parts_at_every_evaluation_point():
    rows = pd.DataFrame(prior_rows(LABELS, SPLIT, "ds", "part"), columns=tidy_columns())
    acc = rows[(rows.metric == "accuracy") & (rows.eval_point == "local")].set_index(["algorithm", "client", "split"])["value"]
    assert acc[(LOCAL_PRIOR, 0, "test")] == 0.5  # labels 0, 1 against 0
    assert acc[(GLOBAL_PRIOR, 0, "test")] == 0.5  # against 1
    assert acc[(LOCAL_PRIOR, 1, "val")] == 0.0  # labels 2, 2 against 1
    assert set(rows["eval_point"]) == {"local", "received"}
    assert set(rows["round"]) == {0}


def test_planted_label_maps_are_applied():
    split = {"clients": [dict(SPLIT["clients"][0], label_map=[2, 0, 1]), dict(SPLIT["clients"][1], label_map=[0, 1, 2])]}
    predicted = prior_predictions(np.array([2, 2, 2, 1, 1, 1, 1, 2, 2, 0, 2, 2, 2, 0, 2]), split["clients"])
    rows = pd.DataFrame(prior_rows(LABELS, split, "ds", "part"), columns=tidy_columns())
    # Client 0 sees its training classes 0 → 2, so its own majority is 2.
    assert predicted[LOCAL_PRIOR][0] == 2
    test0 = rows[(rows.algorithm == LOCAL_PRIOR) & (rows.client == 0) & (rows.split == "test") & (rows.metric == "accuracy")]
    assert test0["value"].iloc[0] == 0.5  # relabelled test labels 2, 0 against 2


def tidy_columns():
    from fhbench.metrics import FILE_COLUMNS

    return FILE_COLUMNS


@pytest.fixture
def table_with_priors():
    runs = [("ds", "part", a, "default", s) for a in ("fedavg", "epfl") for s in (0, 1)]
    metrics = tidy_metrics(runs, lambda d, p, a, v, s: 0.8 if a == "epfl" else 0.7).assign(eval_point="local")
    priors = pd.DataFrame(prior_rows(LABELS, SPLIT, "ds", "part") + prior_rows(LABELS, SPLIT, "other", "part"), columns=tidy_columns())
    merged, references = with_priors(metrics, priors, {"references": []})
    return accuracy_table(merged, references=references), references


def test_priors_are_unranked_reference_rows_named_prior(table_with_priors):
    table, references = table_with_priors
    assert references == [LOCAL_PRIOR, GLOBAL_PRIOR]
    prior = table[table["algorithm"].isin(references)]
    assert len(prior) and prior["reference"].all() and prior["rank"].isna().all() and not prior["best"].any()
    assert all("prior" in m for m in prior["method"])
    assert "other" not in set(table["dataset"])  # a prior never adds a column of its own
    markdown = to_markdown(table, "t")
    assert "| local prior (reference) |" in markdown and "| global prior (reference) |" in markdown


def test_prior_cells_hold_the_mean_over_clients_of_the_test_accuracy(table_with_priors):
    table, _ = table_with_priors
    cell = table[(table["algorithm"] == GLOBAL_PRIOR) & (table["column"] == "ds")].iloc[0]
    # client 0 test 0.5 (best val round 0), client 1 test 0.0 (label 2 against 1)
    assert cell["mean"] == pytest.approx(0.25) and cell["n_seeds"] == 1


def test_split_priors_files_are_labelled_by_the_pairs_that_use_them(tmp_path):
    """make_partition writes one priors file per split; a split shared by two partition names
    (same settings) serves both, each table labelling the rows with its own pair."""
    from fhbench.reporting.priors import load_priors

    path = tmp_path / "split.priors.csv"
    pd.DataFrame(prior_rows(LABELS, SPLIT, "", ""), columns=tidy_columns()).to_csv(path, index=False)
    frame = load_priors([("ds", "dir1", path), ("ds", "dir1_copy", path)])
    assert sorted(frame.groupby(["dataset", "partition"]).size().to_dict()) == [("ds", "dir1"), ("ds", "dir1_copy")]
    one = frame[frame.partition == "dir1"]
    assert len(one) == len(frame) / 2 and set(one["algorithm"]) == {LOCAL_PRIOR, GLOBAL_PRIOR}
    with pytest.raises(FileNotFoundError, match="ds/dir10: no file .*missing.priors.csv"):
        load_priors([("ds", "dir10", tmp_path / "missing.priors.csv")])
