"""Run summaries against scikit-learn on random labels: protocol figure, spread, final round."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from fhbench.metrics import METRIC_COLUMNS, best_validation_scores, classification_metrics, run_summary

SKLEARN = {
    "accuracy": accuracy_score,
    "balanced_accuracy": balanced_accuracy_score,
    "macro_f1": lambda t, p: f1_score(t, p, average="macro"),
}


def random_run(seed: int, n_clients=4, rounds=(2, 4, 6), algorithm="fedavg"):
    """Tidy rows of a fake run from random predictions, and the raw labels per (round, client, split)."""
    rng = np.random.default_rng(seed)
    rows, raw = [], {}
    for rnd in rounds:
        for client in range(n_clients):
            for split in ("val", "test"):
                y_true = rng.integers(0, 4, 30)
                y_pred = np.where(rng.random(30) < 0.5, y_true, rng.integers(0, 5, 30))
                raw[(rnd, client, split)] = (y_true, y_pred)
                for metric, value in classification_metrics(y_true, y_pred).items():
                    rows.append(("d", "p", algorithm, "default", seed, rnd, client, split, metric, value))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS), raw


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("metric", sorted(SKLEARN))
def test_summary_matches_scikit_learn(seed, metric):
    frame, raw = random_run(seed)
    score = SKLEARN[metric]
    best, final = [], []
    for client in range(4):
        val = {r: accuracy_score(*raw[(r, client, "val")]) for r in (2, 4, 6)}
        best_round = min(r for r in val if val[r] == max(val.values()))  # first strict maximum
        best.append(score(*raw[(best_round, client, "test")]))
        final.append(score(*raw[(6, client, "test")]))
    got = run_summary(frame, metric).iloc[0]
    assert got["mean"] == pytest.approx(np.mean(best))  # the protocol figure
    assert got["std"] == pytest.approx(np.std(best, ddof=1))
    assert got["worst"] == pytest.approx(min(best))
    assert got["final_mean"] == pytest.approx(np.mean(final))
    assert got["final_std"] == pytest.approx(np.std(final, ddof=1))
    assert got["final_worst"] == pytest.approx(min(final))
    assert got["n_clients"] == 4 and not got["diverged"]


def test_diverged_runs_are_kept_and_marked():
    ok, _ = random_run(0)
    late, _ = random_run(1, algorithm="scaffold")
    late = pd.concat([late, pd.DataFrame([("d", "p", "scaffold", "default", 1, 7, -1, "run", "diverged", 1.0)], columns=METRIC_COLUMNS)])
    early = pd.DataFrame(
        [("d", "p", "apfl", "default", 0, 1, 0, "train", "loss", 2.0), ("d", "p", "apfl", "default", 0, 1, -1, "run", "diverged", 1.0)],
        columns=METRIC_COLUMNS,
    )
    summary = run_summary(pd.concat([ok, late, early], ignore_index=True)).set_index("algorithm")
    assert summary.loc["fedavg", "diverged"] == False  # noqa: E712 (numpy bool)
    assert summary.loc["scaffold", "diverged"] and np.isfinite(summary.loc["scaffold", "mean"])
    assert summary.loc["apfl", "diverged"] and np.isnan(summary.loc["apfl", "mean"]) and summary.loc["apfl", "n_clients"] == 0


def test_best_validation_round_is_the_first_reaching_the_best_and_skips_clients_without_validation():
    # Validation accuracies with ties (a client reaching its best twice keeps the first round) and a
    # client whose validation part is empty (NaN): two runs, rows shuffled as a concatenation may be.
    val = {0: [0.5, 0.7, 0.7, 0.6], 1: [0.9, 0.2, 0.9, 0.9], 2: [np.nan] * 4, 3: [0.1, 0.2, 0.3, 0.4]}
    rows = []
    for seed in (0, 1):
        for client, accs in val.items():
            for i, (rnd, acc) in enumerate(zip((2, 4, 6, 8), accs)):
                rows.append(("d", "p", "epfl", "default", seed, rnd, client, "val", "accuracy", acc))
                rows.append(("d", "p", "epfl", "default", seed, rnd, client, "test", "accuracy", 10 * seed + client + i / 10))
    metrics = pd.DataFrame(rows, columns=METRIC_COLUMNS).sample(frac=1.0, random_state=0)
    best = best_validation_scores(metrics)
    assert list(best.columns) == ["dataset", "partition", "algorithm", "variant", "seed", "client", "best_round", "value"]
    assert best[["seed", "client", "best_round"]].values.tolist() == [[s, c, r] for s in (0, 1) for c, r in ((0, 4), (1, 2), (3, 8))]
    expected = [10 * s + c + i / 10 for s in (0, 1) for c, i in ((0, 1), (1, 0), (3, 3))]
    assert best["value"].tolist() == pytest.approx(expected)


@pytest.mark.parametrize(
    "n_clients, expected_count",
    [(1, 1), (9, 1), (10, 1), (19, 1), (20, 2), (29, 2), (88, 8)],
)
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
    assert np.isnan(bottom10([float("nan")]))


def test_summary_bottom10_next_to_worst():
    # 20 clients: the best-round test scores are hand-set; the worst two are 0.10 and 0.20.
    scores = [0.10, 0.20] + [0.5 + 0.01 * i for i in range(18)]
    rows = []
    for client, value in enumerate(scores):
        rows.append(("d", "p", "fedavg", "default", 0, 2, client, "val", "accuracy", 0.5))
        rows.append(("d", "p", "fedavg", "default", 0, 2, client, "test", "accuracy", value))
    got = run_summary(pd.DataFrame(rows, columns=METRIC_COLUMNS)).iloc[0]
    assert got["worst"] == pytest.approx(0.10)
    assert got["bottom10"] == pytest.approx(0.15)
    assert got["final_bottom10"] == pytest.approx(0.15)
