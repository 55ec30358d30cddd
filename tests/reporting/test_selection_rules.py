"""Scoring rules at their edges: the exact caption each rule prints, the smallest window k, the
sample-weighted mean with one client or missing sizes, the order of combined groups, and run
summaries when no client could be scored. Expectations are hand calculations on tiny tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fhbench.metrics import METRIC_COLUMNS
from fhbench.reporting.selection import RUN_COLUMNS, SelectionRule, client_scores, combine, run_scores
from tests.reporting.test_selection import KEY, TIED, picked, table

# The sentence fragments REPORT.md captions print ("Each client is scored <fragment>."): a changed
# word here is a visible change in every report, so each is spelled out in full.
BEST_VAL = "at each client's best validation-accuracy round (ties: lower validation loss, then the later round)"
BEST_VAL_FIRST = "at each client's first round reaching its best validation accuracy (the published code's tie-break)"
FINAL = "at the run's last evaluated round"
MEAN = "mean over clients"
WEIGHTED = "mean over clients weighted by test-part size"


@pytest.mark.parametrize(
    "rule, caption",
    [
        (SelectionRule(), f"{BEST_VAL}, {MEAN}"),
        (SelectionRule(rounds="best_val_first"), f"{BEST_VAL_FIRST}, {MEAN}"),
        (SelectionRule(rounds="final"), f"{FINAL}, {MEAN}"),
        (SelectionRule(rounds="last_k", k=4), f"averaged over the run's last 4 evaluated rounds, {MEAN}"),
        (SelectionRule(combine="sample_weighted"), f"{BEST_VAL}, {WEIGHTED}"),
        (SelectionRule(rounds="best_val_first", combine="sample_weighted"), f"{BEST_VAL_FIRST}, {WEIGHTED}"),
        (SelectionRule(rounds="final", combine="sample_weighted"), f"{FINAL}, {WEIGHTED}"),
        (SelectionRule(rounds="last_k", k=2, combine="sample_weighted"), f"averaged over the run's last 2 evaluated rounds, {WEIGHTED}"),
    ],
)
def test_each_rule_describes_itself_with_its_exact_caption(rule, caption):
    """The caption names where clients are scored and how they combine, word for word, for every rule."""
    assert rule.describe() == caption


def test_a_window_of_one_round_is_allowed_and_scores_the_last_round():
    """k=1 is the smallest window: accepted, captioned "last 1", and it scores each client's last round."""
    rule = SelectionRule(rounds="last_k", k=1)
    assert rule.k == 1
    assert rule.describe() == f"averaged over the run's last 1 evaluated rounds, {MEAN}"
    # TIED's last round is 8: the test accuracies there, by hand.
    assert picked(table(TIED), rule) == {0: (8, 0.90), 1: (8, 0.40), 2: (8, 0.95)}


@pytest.mark.parametrize("k", [0, -1])
def test_a_window_of_no_rounds_is_refused(k):
    """k below 1 would average over no rounds: refused when the rule is made."""
    with pytest.raises(ValueError, match="k must be at least 1"):
        SelectionRule(rounds="last_k", k=k)


def test_sample_weighted_score_of_a_single_one_sample_client_is_its_own_score():
    """One client with a one-sample test part: the weighted mean is that client's score (1 * 0.75 / 1)."""
    frame = table({0: [(2, 0.5, 0.4, 0.25), (4, 1.0, 0.3, 0.75)]}, sizes={0: 1})
    weighted = SelectionRule(combine="sample_weighted")
    assert run_scores(frame, rule=weighted)["score"].tolist() == [pytest.approx(0.75)]
    scores = pd.DataFrame({"algorithm": ["fedavg"], "client": [0], "value": [0.75], "weight": [1.0]})
    assert combine(scores, ["algorithm"], weighted).to_dict() == {"fedavg": pytest.approx(0.75)}


def test_sample_weighted_score_is_nan_when_any_client_lacks_its_test_size():
    """Sizes recorded for clients 0 and 2 but not 1: no weighted number is made up from part of the run."""
    weighted = SelectionRule(combine="sample_weighted")
    frame = table(TIED, sizes={0: 2, 2: 3})
    assert np.isnan(run_scores(frame, rule=weighted)["score"].iloc[0])
    # The same with every size present: (2 * 0.6 + 4 * 0.3 + 3 * 0.7) / 9, by hand.
    full = table(TIED, sizes={0: 2, 1: 4, 2: 3})
    assert run_scores(full, rule=weighted)["score"].iloc[0] == pytest.approx((1.2 + 1.2 + 2.1) / 9)


def test_sample_weights_are_the_test_sizes_among_every_recorded_part_size():
    """The engine records each client's n_train, n_val and n_test (round 0, split "data"); only
    n_test weighs a client's test score, whichever rows come first."""
    weighted = SelectionRule(combine="sample_weighted")
    parts = [(*KEY, 0, c, "data", m, v) for c in range(3) for m, v in (("n_train", 10.0 + c), ("n_val", 5.0))]
    frame = pd.concat([pd.DataFrame(parts, columns=METRIC_COLUMNS), table(TIED, sizes={0: 2, 1: 4, 2: 3})], ignore_index=True)
    # (2 * 0.6 + 4 * 0.3 + 3 * 0.7) / 9 by hand, as with the n_test rows alone.
    assert run_scores(frame, rule=weighted)["score"].iloc[0] == pytest.approx((1.2 + 1.2 + 2.1) / 9)


@pytest.mark.parametrize(
    "rule, expected",
    [
        # client means: apfl (0.2 + 0.4) / 2, fedavg (0.9 + 0.5) / 2, scaffold 0.6
        (SelectionRule(), {"apfl": 0.3, "fedavg": 0.7, "scaffold": 0.6}),
        # weighted: apfl (1 * 0.2 + 3 * 0.4) / 4, fedavg (3 * 0.9 + 1 * 0.5) / 4, scaffold 0.6
        (SelectionRule(combine="sample_weighted"), {"apfl": 0.35, "fedavg": 0.8, "scaffold": 0.6}),
    ],
)
def test_combined_groups_come_out_in_sorted_order_whatever_the_row_order(rule, expected):
    """combine gives one value per group, listed in sorted key order rather than the order rows arrive in."""
    scores = pd.DataFrame(
        {
            "algorithm": ["scaffold", "fedavg", "apfl", "fedavg", "apfl"],
            "client": [0, 0, 0, 1, 1],
            "value": [0.6, 0.9, 0.2, 0.5, 0.4],
            "weight": [2.0, 3.0, 1.0, 1.0, 3.0],
        }
    )
    got = combine(scores, ["algorithm"], rule)
    assert got.index.tolist() == ["apfl", "fedavg", "scaffold"]
    assert got.tolist() == pytest.approx([expected[a] for a in ["apfl", "fedavg", "scaffold"]])


def unscored_runs() -> pd.DataFrame:
    """Two runs without a single test score: one diverged before any evaluation, one only trained."""
    rows = [
        ("d", "p", "apfl", "default", 0, 1, 0, "train", "loss", 2.0),
        ("d", "p", "apfl", "default", 0, 1, -1, "run", "diverged", 1.0),
        ("d", "p", "fedavg", "default", 0, 1, 0, "train", "loss", 1.5),
    ]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


@pytest.mark.parametrize("rule", [SelectionRule(), SelectionRule(rounds="final"), SelectionRule(combine="sample_weighted")])
def test_runs_without_any_scored_client_still_get_a_row_with_nan_scores(rule):
    """When no client of any run is scored, each run still has its row: NaN summaries, 0 clients, diverged marked."""
    summary = run_scores(unscored_runs(), rule=rule)
    assert summary.columns.tolist() == RUN_COLUMNS
    assert summary["algorithm"].tolist() == ["apfl", "fedavg"]
    for col in ("score", "std", "worst", "bottom10"):
        assert summary[col].dtype == np.float64 and summary[col].isna().all()
    assert summary["n_clients"].tolist() == [0, 0] and pd.api.types.is_integer_dtype(summary["n_clients"])
    assert summary["diverged"].tolist() == [True, False]


def test_client_counts_are_whole_numbers_in_written_tables():
    """n_clients is an integer column, so a written table says 3 clients, not 3.0."""
    summary = run_scores(table(TIED))
    assert pd.api.types.is_integer_dtype(summary["n_clients"])
    assert summary[["algorithm", "n_clients"]].to_csv(index=False) == "algorithm,n_clients\nepfl,3\n"


def test_run_summaries_raise_no_warnings_on_ordinary_metrics():
    """Summarising finished and diverged runs prints no pandas warning (a future pandas would raise there)."""
    frame = pd.concat([table(TIED), unscored_runs()], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = run_scores(frame)
    assert summary.set_index("algorithm")["diverged"].to_dict() == {"apfl": True, "epfl": False, "fedavg": False}
    assert summary["diverged"].dtype == bool


def test_a_duplicated_test_row_is_never_counted_twice():
    """A metrics file holding one test row twice (a concatenation gone wrong) must not silently
    score a client twice: the validation rules refuse it, the window rules average it away."""
    frame = table(TIED)
    # Client 0's test row at round 4 (its DEFAULT pick) and round 2 (its published pick), twice each.
    dup = frame[(frame["split"] == "test") & (frame["client"] == 0) & frame["round"].isin([2, 4])]
    doubled = pd.concat([frame, dup], ignore_index=True)
    for rule in (SelectionRule(), SelectionRule(rounds="best_val_first")):
        with pytest.raises(pd.errors.MergeError):
            client_scores(doubled, rule=rule)
    # Round 8 twice: the final round still scores each client once, at its one value.
    last = frame[(frame["split"] == "test") & (frame["round"] == 8)]
    assert picked(pd.concat([frame, last], ignore_index=True), SelectionRule(rounds="final")) == {0: (8, 0.90), 1: (8, 0.40), 2: (8, 0.95)}
    assert len(client_scores(pd.concat([frame, last], ignore_index=True), rule=SelectionRule(rounds="final"))) == 3


@pytest.mark.parametrize(
    "rule", [SelectionRule(), SelectionRule(rounds="best_val_first"), SelectionRule(rounds="final"), SelectionRule(rounds="last_k", k=2)]
)
def test_client_scores_list_runs_and_clients_in_sorted_order_whatever_the_row_order(rule):
    """Per-client tables are written in (run keys, client) order, not in the order a shuffled file's rows arrive."""
    frame = table(TIED)
    other = frame.assign(algorithm="apfl")
    mixed = pd.concat([frame, other], ignore_index=True).sample(frac=1.0, random_state=3)
    scores = client_scores(mixed, rule=rule)
    assert list(zip(scores["algorithm"], scores["client"])) == [(a, c) for a in ("apfl", "epfl") for c in (0, 1, 2)]
    assert scores.index.tolist() == list(range(6))


@pytest.mark.parametrize(
    "rule, expected",
    [
        # TIED by hand: DEFAULT picks rounds 4, 6, 4; final is round 8 for everyone.
        (SelectionRule(), "round\n4\n6\n4\n"),
        (SelectionRule(rounds="final"), "round\n8\n8\n8\n"),
    ],
)
def test_selected_rounds_are_whole_numbers_even_when_the_file_stores_them_as_floats(rule, expected):
    """The picked round is an integer column (a table says round 4, not 4.0), also when the metrics
    file read its rounds as floats (a blank cell elsewhere makes pandas do so)."""
    for frame in (table(TIED), table(TIED).astype({"round": float})):
        scores = client_scores(frame, rule=rule)
        assert scores["round"].dtype == np.int64
        assert scores[["round"]].to_csv(index=False) == expected


def test_scores_are_floats_even_when_every_value_in_the_file_is_whole():
    """One-sample parts score 0 or 1, so a metrics file may hold only whole numbers and read as
    integers; the client scores are still a float column (means and weights are taken from it)."""
    # Client 0 is right on validation only at round 4 (test 1 there); client 1 at round 2 (test 0).
    frame = table({0: [(2, 0, 1, 0), (4, 1, 0, 1)], 1: [(2, 1, 0, 0), (4, 0, 1, 1)]}, sizes={0: 1, 1: 1})
    assert frame["value"].dtype == np.int64
    for rule in (SelectionRule(), SelectionRule(rounds="best_val_first")):
        scores = client_scores(frame, rule=rule)
        assert scores["value"].dtype == np.float64 and scores["weight"].dtype == np.float64
        assert scores[["client", "round", "value"]].to_csv(index=False) == "client,round,value\n0,4,1.0\n1,2,0.0\n"
