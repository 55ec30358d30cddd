"""Scoring a client: which round each rule picks (the tie-break decides on hand-built tables), how
clients combine, and the run summaries against scikit-learn on random labels."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from fhbench.metrics import FILE_COLUMNS, METRIC_COLUMNS, classification_metrics
from fhbench.reporting.selection import DEFAULT, PUBLISHED, SelectionRule, client_scores, combine, run_scores

KEY = ("d", "p", "epfl", "default", 0)


def table(clients: dict[int, list[tuple]], sizes: dict[int, int] | None = None, loss: bool = True) -> pd.DataFrame:
    """Rows from (round, val accuracy, val loss, test accuracy) per client, shuffled as a concatenation may be."""
    rows = []
    for client, evaluations in clients.items():
        for rnd, val_acc, val_loss, test_acc in evaluations:
            rows.append((*KEY, rnd, client, "val", "accuracy", val_acc))
            if loss:
                rows.append((*KEY, rnd, client, "val", "loss", val_loss))
            rows.append((*KEY, rnd, client, "test", "accuracy", test_acc))
    for client, n in (sizes or {}).items():
        rows.append((*KEY, 0, client, "data", "n_test", n))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS).sample(frac=1.0, random_state=0)


# Client 0 reaches its best validation accuracy (2/3) at rounds 2, 4 and 6; the loss is lowest at
# round 4. Client 1 ties at rounds 4 and 6 with equal losses. Client 2 has one clear best.
TIED = {
    0: [(2, 2 / 3, 0.90, 0.40), (4, 2 / 3, 0.50, 0.60), (6, 2 / 3, 0.70, 0.80), (8, 1 / 3, 0.40, 0.90)],
    1: [(2, 0.0, 1.20, 0.10), (4, 0.5, 0.80, 0.20), (6, 0.5, 0.80, 0.30), (8, 0.0, 1.00, 0.40)],
    2: [(2, 0.2, 1.00, 0.50), (4, 0.9, 0.90, 0.70), (6, 0.3, 0.30, 0.90), (8, 0.1, 0.20, 0.95)],
}


def picked(frame: pd.DataFrame, rule: SelectionRule) -> dict[int, tuple[int, float]]:
    scores = client_scores(frame, rule=rule)
    return {int(c): (int(r), v) for c, r, v in zip(scores["client"], scores["round"], scores["value"])}


def test_the_tie_break_decides_the_round():
    frame = table(TIED)
    # Default: the lower validation loss among the tied rounds, then the later round.
    assert picked(frame, DEFAULT) == {0: (4, 0.60), 1: (6, 0.30), 2: (4, 0.70)}
    # The published code: the first round reaching the best.
    assert picked(frame, PUBLISHED) == {0: (2, 0.40), 1: (4, 0.20), 2: (4, 0.70)}
    # Metrics without loss rows (written before the engine recorded them): straight to the later round.
    assert picked(table(TIED, loss=False), DEFAULT) == {0: (6, 0.80), 1: (6, 0.30), 2: (4, 0.70)}


def test_final_round_and_mean_of_last_k():
    frame = table(TIED)
    assert picked(frame, SelectionRule(rounds="final")) == {0: (8, 0.90), 1: (8, 0.40), 2: (8, 0.95)}
    last2 = picked(frame, SelectionRule(rounds="last_k", k=2))
    assert last2[0] == (8, pytest.approx(0.85)) and last2[2] == (8, pytest.approx(0.925))


def test_clients_without_validation_or_test_rows_are_left_out_and_counted():
    clients = dict(TIED)
    clients[3] = [(r, np.nan, np.nan, 0.5) for r in (2, 4, 6, 8)]  # empty validation part
    clients[4] = [(r, 0.5, 0.5, np.nan) for r in (2, 4, 6, 8)]  # empty test part
    frame = table(clients)
    assert set(picked(frame, DEFAULT)) == {0, 1, 2}
    assert set(picked(frame, SelectionRule(rounds="final"))) == {0, 1, 2, 3}
    assert run_scores(frame)["n_clients"].tolist() == [3]


def test_per_client_and_sample_weighted_means():
    frame = table(TIED, sizes={0: 1, 1: 1, 2: 8})
    scores = client_scores(frame)
    assert scores.set_index("client")["weight"].to_dict() == {0: 1.0, 1: 1.0, 2: 8.0}
    keys = ["dataset", "partition", "algorithm", "variant", "seed"]
    assert combine(scores, keys).iloc[0] == pytest.approx((0.6 + 0.3 + 0.7) / 3)
    weighted = SelectionRule(combine="sample_weighted")
    assert combine(scores, keys, weighted).iloc[0] == pytest.approx((0.6 + 0.3 + 8 * 0.7) / 10)
    assert run_scores(frame, rule=weighted)["score"].iloc[0] == pytest.approx(0.65)
    # Without recorded sizes a weighted mean is not made up: NaN.
    assert np.isnan(run_scores(table(TIED), rule=weighted)["score"].iloc[0])


def test_rules_describe_themselves_and_reject_unknown_values():
    assert "lower validation loss, then the later round" in DEFAULT.describe() and "mean over clients" in DEFAULT.describe()
    assert "weighted by test-part size" in SelectionRule(combine="sample_weighted").describe()
    assert "last 5" in SelectionRule(rounds="last_k", k=5).describe()
    with pytest.raises(ValueError, match="rounds"):
        SelectionRule(rounds="best")
    with pytest.raises(ValueError, match="combine"):
        SelectionRule(combine="median")


SKLEARN = {
    "accuracy": accuracy_score,
    "balanced_accuracy": balanced_accuracy_score,
    "macro_f1": lambda t, p: f1_score(t, p, average="macro"),
}


def random_run(seed: int, n_clients=4, rounds=(2, 4, 6), algorithm="fedavg"):
    """Tidy rows of a fake run from random predictions (with losses), and the raw labels per (round, client, split)."""
    rng = np.random.default_rng(seed)
    rows, raw = [], {}
    for rnd in rounds:
        for client in range(n_clients):
            for split in ("val", "test"):
                y_true = rng.integers(0, 4, 10)
                y_pred = np.where(rng.random(10) < 0.5, y_true, rng.integers(0, 5, 10))
                raw[(rnd, client, split)] = (y_true, y_pred, float(rng.random()))
                for metric, value in classification_metrics(y_true, y_pred).items():
                    rows.append(("d", "p", algorithm, "default", seed, rnd, client, split, metric, value))
                rows.append(("d", "p", algorithm, "default", seed, rnd, client, split, "loss", raw[(rnd, client, split)][2]))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS), raw


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("metric", sorted(SKLEARN))
def test_run_scores_match_scikit_learn(seed, metric):
    frame, raw = random_run(seed)
    score = SKLEARN[metric]
    best, final = [], []
    for client in range(4):
        val = {r: accuracy_score(*raw[(r, client, "val")][:2]) for r in (2, 4, 6)}
        tied = [r for r in val if val[r] == max(val.values())]
        # Lowest validation loss among the tied rounds, then the latest.
        best_round = sorted(tied, key=lambda r: (raw[(r, client, "val")][2], -r))[0]
        best.append(score(*raw[(best_round, client, "test")][:2]))
        final.append(score(*raw[(6, client, "test")][:2]))
    got = run_scores(frame, metric).iloc[0]
    assert got["score"] == pytest.approx(np.mean(best))
    assert got["std"] == pytest.approx(np.std(best, ddof=1)) and got["worst"] == pytest.approx(min(best))
    assert got["n_clients"] == 4 and not got["diverged"]
    assert run_scores(frame, metric, rule=SelectionRule(rounds="final")).iloc[0]["score"] == pytest.approx(np.mean(final))


def test_diverged_runs_are_kept_and_marked():
    ok, _ = random_run(0)
    late, _ = random_run(1, algorithm="scaffold")
    late = pd.concat([late, pd.DataFrame([("d", "p", "scaffold", "default", 1, 7, -1, "run", "diverged", 1.0)], columns=METRIC_COLUMNS)])
    early = pd.DataFrame(
        [("d", "p", "apfl", "default", 0, 1, 0, "train", "loss", 2.0), ("d", "p", "apfl", "default", 0, 1, -1, "run", "diverged", 1.0)],
        columns=METRIC_COLUMNS,
    )
    summary = run_scores(pd.concat([ok, late, early], ignore_index=True)).set_index("algorithm")
    assert summary.loc["fedavg", "diverged"] == False  # noqa: E712 (numpy bool)
    assert summary.loc["scaffold", "diverged"] and np.isfinite(summary.loc["scaffold", "score"])
    assert summary.loc["apfl", "diverged"] and np.isnan(summary.loc["apfl", "score"]) and summary.loc["apfl", "n_clients"] == 0


@pytest.mark.parametrize("n_clients, expected_count", [(1, 1), (9, 1), (10, 1), (19, 1), (20, 2), (29, 2), (88, 8)])
def test_bottom10_averages_the_worst_tenth_and_at_least_one_client(n_clients, expected_count):
    from fhbench.metrics import bottom10, bottom_count

    values = np.linspace(0.9, 0.1, n_clients)  # descending: the worst come last
    assert bottom_count(n_clients) == expected_count
    assert bottom10(values) == pytest.approx(np.mean(np.sort(values)[:expected_count]))


def test_bottom10_skips_empty_parts_and_is_nan_without_scores():
    from fhbench.metrics import bottom10

    # 20 values of which 2 are NaN (clients without a test part): 18 scored, the single worst counts.
    values = [0.5] * 16 + [0.2, 0.3, float("nan"), float("nan")]
    assert bottom10(values) == pytest.approx(0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" reaches the user
        assert np.isnan(bottom10([float("nan")])) and np.isnan(bottom10([]))
    # a score read back from JSON as null is a missing score, like NaN
    assert bottom10([0.5, None, 0.25]) == 0.25


def test_run_scores_give_bottom10_next_to_worst():
    # 20 clients: the best-round test scores are hand-set; the worst two are 0.10 and 0.20.
    scores = [0.10, 0.20] + [0.5 + 0.01 * i for i in range(18)]
    rows = []
    for client, value in enumerate(scores):
        rows.append(("d", "p", "fedavg", "default", 0, 2, client, "val", "accuracy", 0.5, "local"))
        rows.append(("d", "p", "fedavg", "default", 0, 2, client, "test", "accuracy", value, "local"))
    got = run_scores(pd.DataFrame(rows, columns=FILE_COLUMNS)).iloc[0]
    assert got["worst"] == pytest.approx(0.10)
    assert got["bottom10"] == pytest.approx(0.15)
