import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from fhbench.metrics import best_validation_scores, classification_metrics


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_agree_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, 60)
    y_pred = np.where(rng.random(60) < 0.6, y_true, rng.integers(0, 7, 60))
    got = classification_metrics(y_true, y_pred)
    assert got["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert got["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))


def test_best_validation_takes_test_score_where_validation_first_peaks():
    rows = []
    for rnd, val, test in [(5, 0.5, 0.40), (10, 0.8, 0.70), (15, 0.8, 0.95), (20, 0.6, 0.99)]:
        rows.append(("d", "p", "a", "default", 0, rnd, 0, "val", "accuracy", val))
        rows.append(("d", "p", "a", "default", 0, rnd, 0, "test", "accuracy", test))
    frame = pd.DataFrame(
        rows, columns=["dataset", "partition", "algorithm", "variant", "seed", "round", "client", "split", "metric", "value"]
    )
    best = best_validation_scores(frame)
    assert best["best_round"].tolist() == [10]  # strict improvement only: round 15 ties
    assert best["value"].tolist() == [0.70]
