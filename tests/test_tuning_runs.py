"""A tuning trial is an ordinary run that scores validation only: no test row is computed or
written, and its validation rows are those of the same run scoring both parts."""

from __future__ import annotations

import pandas as pd
import pytest

from fhbench.federation import RunConfig, run_federation
from fhbench.partition import partition_prepared


@pytest.fixture(scope="module")
def split(demo_organamnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("split") / "fhbench.json"
    partition_prepared(demo_organamnist, out, scheme="fhbench", n_clients=4, alpha=0.5, datapercent=1.0, seed=2025)
    return out


def config(**overrides) -> dict:
    values = dict(
        dataset="organamnist",
        partition="fhbench",
        algorithm="fedprox",
        seed=0,
        backbone="vit_tiny",
        architecture="vit",
        rounds=2,
        lr=0.05,
        batch_size=16,
        eval_every=1,
        eval_points=["local"],
        algorithm_params={"mu": 0.01},
    )
    return values | overrides


def test_a_trial_writes_no_test_rows_and_the_same_validation_rows(tmp_path, demo_organamnist, split, tiny_vit_dir):
    trial, full = tmp_path / "trial" / "metrics.csv", tmp_path / "full" / "metrics.csv"
    assert run_federation(config(eval_splits=["val"]), demo_organamnist, split, tiny_vit_dir, trial) == "completed"
    assert run_federation(config(), demo_organamnist, split, tiny_vit_dir, full) == "completed"
    trial_rows, full_rows = pd.read_csv(trial), pd.read_csv(full)
    assert (trial_rows["split"] == "test").sum() == 0 and (full_rows["split"] == "test").sum() > 0
    assert set(trial_rows["split"]) == {"data", "train", "val", "comm"}  # data: the parts' sizes (round 0)
    val = full_rows[full_rows["split"] != "test"].reset_index(drop=True)
    pd.testing.assert_frame_equal(trial_rows, val)


def test_scoring_test_alone_is_refused():
    with pytest.raises(ValueError, match="eval_splits"):
        RunConfig.from_dict(config(eval_splits=["test"]))
