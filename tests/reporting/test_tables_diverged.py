"""A diverged run is marked in the tables, never a crash and never silently dropped."""

from __future__ import annotations

import pandas as pd

from fhbench.metrics import METRIC_COLUMNS
from fhbench.reporting.tables import accuracy_table, to_markdown, write_accuracy_table


def rows(algorithm, seed, accuracy=None, diverged_at=None):
    out = []
    if accuracy is not None:
        for client in range(2):
            for split in ("val", "test"):
                out.append(("d", "p", algorithm, "default", seed, 2, client, split, "accuracy", accuracy))
    if diverged_at is not None:
        out.append(("d", "p", algorithm, "default", seed, diverged_at, -1, "run", "diverged", 1.0))
    return out


def frame():
    data = rows("fedavg", 0, 0.8) + rows("fedavg", 1, 0.6) + rows("scaffold", 0, 0.7) + rows("scaffold", 1, diverged_at=1)
    data += rows("apfl", 0, diverged_at=1) + rows("apfl", 1, diverged_at=3)
    return pd.DataFrame(data, columns=METRIC_COLUMNS)


def test_diverged_seeds_leave_the_mean_and_are_counted():
    table = accuracy_table(frame()).set_index("algorithm")
    assert table.loc["fedavg", "mean"] == 0.7 and table.loc["fedavg", "n_diverged"] == 0
    assert table.loc["scaffold", "mean"] == 0.7 and table.loc["scaffold", "n_seeds"] == 1 and table.loc["scaffold", "n_diverged"] == 1
    assert pd.isna(table.loc["apfl", "mean"]) and table.loc["apfl", "n_diverged"] == 2


def test_markdown_marks_diverged_cells(tmp_path):
    md = to_markdown(accuracy_table(frame()), "t")
    assert "| apfl " in md and "diverged" in md.split("| apfl")[1].splitlines()[0]
    assert "†1" in md.split("| scaffold")[1].splitlines()[0]
    assert "over 2 seeds" in md
    paths = []
    for i, (_, part) in enumerate(frame().groupby(["algorithm", "seed"])):
        path = tmp_path / f"{i}.csv"
        part.to_csv(path, index=False)
        paths.append(path)
    write_accuracy_table(paths, tmp_path / "t.csv", tmp_path / "t.md")
    assert "diverged" in (tmp_path / "t.md").read_text()
