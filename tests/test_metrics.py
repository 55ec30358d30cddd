import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from fhbench.metrics import at_eval_point, classification_metrics, diverged_runs


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_agree_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, 60)
    y_pred = np.where(rng.random(60) < 0.6, y_true, rng.integers(0, 7, 60))
    got = classification_metrics(y_true, y_pred)
    assert got["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert got["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))


def test_classification_metrics_take_float_labels():
    """Labels may arrive as floats (e.g. from a float tensor): they count as the integer classes."""
    y_true = np.array([0.0, 1.0, 2.0, 2.0, 1.0])
    y_pred = np.array([0.0, 2.0, 2.0, 2.0, 1.0])
    got = classification_metrics(y_true, y_pred)
    t, p = y_true.astype(int), y_pred.astype(int)
    assert got["accuracy"] == pytest.approx(accuracy_score(t, p)) == pytest.approx(0.8)
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(t, p))
    assert got["macro_f1"] == pytest.approx(f1_score(t, p, average="macro"))


def test_classification_metrics_of_one_sample_and_of_none():
    """One sample is scored like any other (right: all 1.0; wrong: all 0.0); no samples give NaN
    for each of the three metrics."""
    assert classification_metrics([3], [3]) == {"accuracy": 1.0, "balanced_accuracy": 1.0, "macro_f1": 1.0}
    assert classification_metrics([1], [0]) == {"accuracy": 0.0, "balanced_accuracy": 0.0, "macro_f1": 0.0}
    empty = classification_metrics(np.array([], dtype=int), np.array([], dtype=int))
    assert set(empty) == {"accuracy", "balanced_accuracy", "macro_f1"}
    assert all(isinstance(v, float) and np.isnan(v) for v in empty.values())


def test_macro_f1_ignores_classes_neither_true_nor_predicted():
    """A class below the largest label that no sample has and no prediction names is not averaged
    in (scikit-learn's convention): labels 0 and 2 predicted perfectly give macro-F1 1.0, not 2/3."""
    got = classification_metrics([0, 2, 2, 0], [0, 2, 2, 0])
    assert got == {"accuracy": 1.0, "balanced_accuracy": 1.0, "macro_f1": 1.0}
    y_true, y_pred = [0, 4, 4, 1], [0, 4, 1, 1]  # classes 2 and 3 absent everywhere
    assert classification_metrics(y_true, y_pred)["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert classification_metrics(y_true, y_pred)["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_zero_over_zero_scores_zero_whatever_memory_numpy_hands_the_division():
    """Recall of a class never true and precision of a class never predicted are 0/0: they must be
    written as 0, not left as the division's uninitialised output. NumPy reuses freed small buffers,
    so filling its cache with inf first makes any entry left unwritten show up as NaN."""
    y_true = [0, 0, 1, 1, 2, 3]  # classes 2 and 3 are never predicted
    y_pred = [0, 1, 1, 1, 0, 4]  # class 4 is never true
    # by hand: recall 1/2, 1, 0, 0 over the true classes; precision 1/2, 2/3, 0, 0, 0;
    # F1 1/2, 4/5, 0, 0, 0 over the five labels
    expected = {"accuracy": 0.5, "balanced_accuracy": 0.375, "macro_f1": 0.26}
    for _ in range(3):
        dirty = [np.full(5, np.inf) for _ in range(16)]
        del dirty
        got = classification_metrics(y_true, y_pred)
        assert got == pytest.approx(expected)


def test_classes_never_predicted_or_never_true_raise_no_warning():
    """A class that is never predicted (precision 0/0) or never true (recall 0/0) scores 0 silently:
    no RuntimeWarning reaches the user, and the values match scikit-learn's zero_division=0."""
    y_true = [0, 0, 1, 1, 2]  # class 2 is never predicted
    y_pred = [0, 3, 1, 1, 0]  # class 3 is never true
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = classification_metrics(y_true, y_pred)
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred)) == pytest.approx((0.5 + 1 + 0) / 3)
    assert got["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))


def frame(rows, with_point=True):
    cols = ["round", "client", "split", "metric", "value"] + (["eval_point"] if with_point else [])
    return pd.DataFrame([r if with_point else r[:5] for r in rows], columns=cols)


ROWS = [
    (0, 0, "data", "n_test", 10.0, ""),
    (1, 0, "train", "loss", 0.9, ""),
    (1, 0, "comm", "bytes", 100.0, ""),
    (1, 0, "val", "accuracy", 0.6, "local"),
    (1, 0, "test", "accuracy", 0.5, "local"),
    (1, 0, "val", "accuracy", 0.4, "received"),
    (1, 0, "test", "accuracy", 0.3, "received"),
]


def test_at_eval_point_keeps_the_points_scores_and_every_other_row():
    """Each point keeps its own val/test rows plus all data/train/comm rows; "local" is the default."""
    df = frame(ROWS)
    assert at_eval_point(df).index.tolist() == [0, 1, 2, 3, 4]
    assert at_eval_point(df, "local").index.tolist() == [0, 1, 2, 3, 4]
    assert at_eval_point(df, "received").index.tolist() == [0, 1, 2, 5, 6]
    with pytest.raises(ValueError, match="eval_point"):
        at_eval_point(df, "global")


def test_at_eval_point_on_metrics_written_before_eval_points_existed():
    """Without an eval_point column every val/test row is "local": "local" returns the frame as it
    is, "received" only the rows that are not scores (data, train, comm)."""
    df = frame(ROWS[:5], with_point=False)
    pd.testing.assert_frame_equal(at_eval_point(df), df)
    received = at_eval_point(df, "received")
    assert received.index.tolist() == [0, 1, 2]
    assert received["split"].tolist() == ["data", "train", "comm"]


def test_diverged_runs_lists_each_diverged_run_once():
    """A run diverged when it has a run/diverged row with a positive value: one row per run, the
    run keys only, a fresh 0..n-1 index; other run rows and diverged = 0 do not count."""
    keys = ["dataset", "partition", "algorithm", "variant", "seed"]
    base = dict(dataset="d", partition="p", variant="v", round=3, client=-1)
    df = pd.DataFrame(
        [
            dict(base, algorithm="fedavg", seed=0, split="test", metric="accuracy", value=0.5),
            dict(base, algorithm="fedavg", seed=1, split="run", metric="diverged", value=1.0),
            dict(base, algorithm="fedavg", seed=1, split="run", metric="diverged", value=1.0),  # written twice
            dict(base, algorithm="ditto", seed=0, split="run", metric="diverged", value=0.0),  # did not diverge
            dict(base, algorithm="ditto", seed=1, split="run", metric="wall_seconds", value=12.0),  # another run row
            dict(base, algorithm="apfl", seed=2, split="test", metric="diverged", value=1.0),  # not a run row
            dict(base, algorithm="pfedme", seed=4, split="run", metric="diverged", value=1.0),
        ]
    )
    expected = pd.DataFrame(
        {"dataset": ["d", "d"], "partition": ["p", "p"], "algorithm": ["fedavg", "pfedme"], "variant": ["v", "v"], "seed": [1, 4]}
    )
    pd.testing.assert_frame_equal(diverged_runs(df), expected[keys])
