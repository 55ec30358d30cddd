"""REPORT.md's explanation of headline cells where two methods print the same score."""

from __future__ import annotations

import pandas as pd
import pytest

from fhbench.metrics import FILE_COLUMNS
from fhbench.reporting.ties import tie_breakdown, ties_section

# Test parts of 4 samples: a client's accuracy moves in steps of 0.25.
N_TEST = 4


def runs(test_accuracy: dict, test_loss: dict) -> pd.DataFrame:
    """Two clients, rounds 2 and 4; validation accuracy peaks at round 4 for everyone, so each
    client is scored at round 4. ``test_accuracy[algorithm]`` / ``test_loss[algorithm]``: the
    clients' round-4 values (round 2: 0.5 accuracy and loss 1.0 for every method)."""
    rows = []
    for algorithm in test_accuracy:
        for client in (0, 1):
            key = ("ds", "fhbench", algorithm, "default", 0)
            rows.append((*key, 0, client, "data", "n_test", N_TEST, None))
            for rnd in (2, 4):
                late = rnd == 4
                rows += [
                    (*key, rnd, client, "val", "accuracy", 0.9 if late else 0.5, "local"),
                    (*key, rnd, client, "val", "loss", 0.5, "local"),
                    (*key, rnd, client, "test", "accuracy", test_accuracy[algorithm][client] if late else 0.5, "local"),
                    (*key, rnd, client, "test", "loss", test_loss[algorithm][client] if late else 1.0, "local"),
                ]
    return pd.DataFrame(rows, columns=FILE_COLUMNS)


def test_a_tie_from_cancelling_clients_is_counted_and_the_differing_models_shown():
    # epfl: 0.75, 0.50; local: 0.50, 0.75 -> both means 0.625, neither client the same.
    metrics = runs({"epfl": [0.75, 0.5], "local": [0.5, 0.75]}, {"epfl": [0.8, 0.9], "local": [0.9, 0.8]})
    row = tie_breakdown(metrics, ["epfl", "local"]).iloc[0]
    assert (row["first"], row["second"]) == ("epfl", "local")
    assert row["score"] == pytest.approx(0.625)
    assert row["same_clients"] == 0 and row["n_clients"] == 2
    assert row["gain"] == pytest.approx(0.25) and row["loss"] == pytest.approx(-0.25)
    # 4 test rows (2 clients x 2 rounds): round 2 equal, round 4 different.
    assert row["same_rows"] == pytest.approx(0.5)
    # Losses equal at round 2 (1.0), different at round 4 (|0.8-0.9|/0.9 = 0.111).
    assert row["loss_rows_differing"] == pytest.approx(0.5)
    assert row["loss_rel_median"] == pytest.approx((0 + 0.1 / 0.9) / 2)
    assert row["n_test_min"] == N_TEST and row["n_test_median"] == N_TEST
    text = "\n".join(ties_section(metrics, {"algorithms": ["epfl"], "references": ["local"]}))
    assert "epfl = local (62.50)" in text and "0 of 2 clients" in text and "+25.0 and -25.0 points" in text
    assert "the models differ: the test loss differs in 50% of the rows" in text


def test_identical_models_are_called_out_and_untied_cells_left_out():
    same = {"epfl": [0.75, 0.5], "local": [0.75, 0.5], "fedavg": [0.25, 0.5]}
    metrics = runs(same, {"epfl": [0.8, 0.9], "local": [0.8, 0.9], "fedavg": [0.7, 0.7]})
    ties = tie_breakdown(metrics, ["fedavg", "epfl", "local"])
    # fedavg's mean 0.375 ties with nobody: only the epfl/local pair is reported.
    assert list(zip(ties["first"], ties["second"])) == [("epfl", "local")]
    assert ties.iloc[0]["same_clients"] == 2 and ties.iloc[0]["loss_rows_differing"] == 0
    text = "\n".join(ties_section(metrics, {"algorithms": ["fedavg", "epfl"], "references": ["local"]}))
    assert "the models do not differ" in text and "cancel" not in text


def test_no_tie_no_section():
    metrics = runs({"epfl": [0.75, 0.75], "local": [0.5, 0.75]}, {"epfl": [0.8, 0.9], "local": [0.9, 0.8]})
    assert tie_breakdown(metrics, ["epfl", "local"]).empty
    assert ties_section(metrics, {"algorithms": ["epfl"], "references": ["local"]}) == []


def test_metrics_without_test_loss_or_sizes_say_so_instead_of_failing():
    # Hand-made or older metrics files may hold accuracies only (the report fixture's do).
    metrics = runs({"epfl": [0.75, 0.5], "local": [0.5, 0.75]}, {"epfl": [0.8, 0.9], "local": [0.9, 0.8]})
    metrics = metrics[~((metrics["split"] == "test") & (metrics["metric"] == "loss")) & (metrics["split"] != "data")]
    row = tie_breakdown(metrics, ["epfl", "local"]).iloc[0]
    assert row["same_clients"] == 0 and row["same_rows"] == pytest.approx(0.5)
    assert pd.isna(row["loss_rows_differing"]) and pd.isna(row["n_test_min"])
    text = "\n".join(ties_section(metrics, {"algorithms": ["epfl"], "references": ["local"]}))
    assert "the test loss is not recorded" in text and "test parts of unrecorded size" in text
