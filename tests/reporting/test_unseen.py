"""The participation-gap table and figure, and the client-size figure, from hand-made tidy metrics."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fhbench.metrics import FILE_COLUMNS
from fhbench.reporting.figures import FIGURES, make_figure
from fhbench.reporting.unseen import UNSEEN_COLUMNS, unseen_table, write_unseen_table
from fhbench.reporting.worst_off import client_sizes, size_scores

KEY = ("organamnist", "unseen4")


def run_rows(algorithm: str, seed: int, participating: list[float], unseen: list[float], point: str = "local") -> list[tuple]:
    """One run: training clients scored at rounds 1-2 (best validation at round 2), newcomers at the end."""
    rows = []
    for client, score in enumerate(participating):
        for rnd, val in ((1, 0.1), (2, 0.9)):
            rows.append((*KEY, algorithm, "default", seed, rnd, client, "val", "accuracy", val, point))
            rows.append((*KEY, algorithm, "default", seed, rnd, client, "test", "accuracy", score if rnd == 2 else 0.0, point))
    for j, score in enumerate(unseen):
        client = len(participating) + j
        rows.append((*KEY, algorithm, "default", seed, 2, client, "val", "accuracy", 0.5, "newcomer"))
        rows.append((*KEY, algorithm, "default", seed, 2, client, "test", "accuracy", score, "newcomer"))
    return rows


@pytest.fixture
def metrics() -> pd.DataFrame:
    rows = run_rows("fedavg", 0, [0.6, 0.8], [0.5]) + run_rows("fedavg", 1, [0.7, 0.9], [0.3, 0.5])
    rows += run_rows("epfl", 0, [0.9, 0.9], [0.2])
    return pd.DataFrame(rows, columns=FILE_COLUMNS)


def test_gap_is_participating_minus_unseen_averaged_over_seeds(metrics):
    table = unseen_table(metrics).set_index("algorithm")
    assert list(unseen_table(metrics).columns[:5]) == ["dataset", "algorithm", "participating", "unseen", "gap"]
    assert table.loc["fedavg", "participating"] == pytest.approx((0.7 + 0.8) / 2)
    assert table.loc["fedavg", "unseen"] == pytest.approx((0.5 + 0.4) / 2)
    assert table.loc["fedavg", "gap"] == pytest.approx(0.75 - 0.45)
    assert table.loc["fedavg", "n_seeds"] == 2 and table.loc["fedavg", "n_unseen"] == 2
    assert table.loc["epfl", "gap"] == pytest.approx(0.9 - 0.2)


def test_participating_summary_never_counts_the_newcomers(metrics):
    from fhbench.reporting.selection import run_scores

    summary = run_scores(metrics).set_index(["algorithm", "seed"])
    assert summary.loc[("fedavg", 1), "n_clients"] == 2


def test_runs_without_unseen_clients_give_an_empty_table():
    rows = run_rows("fedavg", 0, [0.6], [])
    assert unseen_table(pd.DataFrame(rows, columns=FILE_COLUMNS)).empty


def test_write_unseen_table(tmp_path, metrics):
    paths = []
    for (algorithm, seed), frame in metrics.groupby(["algorithm", "seed"]):
        path = tmp_path / f"{algorithm}{seed}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    spec = {"runs": [[*KEY, a, "default", s] for a, s in (("fedavg", 0), ("fedavg", 1), ("epfl", 0))], "eval_point": "local"}
    table = write_unseen_table(paths, [spec], tmp_path / "unseen_accuracy.csv", tmp_path / "unseen_accuracy.md")
    written = pd.read_csv(tmp_path / "unseen_accuracy.csv")
    assert list(written.columns) == UNSEEN_COLUMNS and len(written) == len(table) == 2
    assert "| organamnist | unseen4 | fedavg | 75.00 | 45.00 | +30.00 | 2 | 2 |" in (tmp_path / "unseen_accuracy.md").read_text()


def test_unseen_and_client_size_figures_are_registered_and_drawn(tmp_path, metrics):
    assert {"unseen", "client_size"} <= set(FIGURES)
    make_figure("unseen", metrics, [tmp_path / "u.png"], title="gap")
    assert (tmp_path / "u.png").stat().st_size > 0
    info = tmp_path / "run.json"
    config = {"dataset": KEY[0], "partition": KEY[1], "algorithm": "fedavg", "variant": "default", "seed": 0}
    info.write_text(json.dumps({"config": config, "train_sizes": [5, 50]}))
    sizes = client_sizes([info])
    assert sizes[["client", "train_size"]].values.tolist() == [[0, 5], [1, 50]]
    points = size_scores(metrics, sizes)
    assert points.set_index("client")["value"].to_dict() == pytest.approx({0: 0.6, 1: 0.8})
    make_figure("client_size", metrics, [tmp_path / "s.png"], title="sizes", sizes=sizes)
    assert (tmp_path / "s.png").stat().st_size > 0


def test_client_size_figure_without_sizes_is_a_note(tmp_path, metrics):
    make_figure("client_size", metrics, [tmp_path / "n.png"], title="sizes", sizes=pd.DataFrame())
    assert (tmp_path / "n.png").stat().st_size > 0
