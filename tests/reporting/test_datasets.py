"""Dataset table and split figures on tiny hand-made inputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fhbench.reporting.datasets import plot_split, write_dataset_table


def split_json(path, clients_counts, scheme="fhbench", groups=None):
    """A partition JSON whose clients hold the given per-split class counts (indices are dummies)."""
    clients = []
    for i, counts in enumerate(clients_counts):
        entry = {s: list(range(sum(counts[s]))) for s in ("train", "val", "test")}
        entry["class_counts"] = counts
        if groups:
            entry["group"] = groups[i]
        clients.append(entry)
    params = {"group": "patient"} if groups else {}
    path.write_text(json.dumps({"scheme": scheme, "params": params, "n_classes": 3, "clients": clients}))
    return path


@pytest.fixture
def tiny(tmp_path):
    prep = tmp_path / "prep"
    prep.mkdir()
    (prep / "info.json").write_text(
        json.dumps({"dataset": "toy", "modality": "text", "n_classes": 3, "n_samples": 100, "class_names": ["a", "b", "c"]})
    )
    split = split_json(
        tmp_path / "split.json",
        [
            {"train": [4, 0, 0], "val": [3, 0, 0], "test": [3, 0, 0]},  # single class
            {"train": [2, 2, 0], "val": [1, 1, 1], "test": [1, 1, 1]},
            {"train": [0, 0, 8], "val": [0, 0, 6], "test": [0, 0, 6]},  # single class
        ],
    )
    return prep, split


def test_dataset_table_rows_and_formats(tmp_path, tiny):
    prep, split = tiny
    out = tmp_path / "out"
    table = write_dataset_table([("toy", "fhbench", prep, split)], out / "d.csv", out / "d.md", out / "d.tex")
    row = pd.read_csv(out / "d.csv").iloc[0]
    assert row["pooled_size"] == 100 and row["used_size"] == 10 + 10 + 20
    assert row["clients"] == 3 and row["single_class_clients"] == 2
    assert (row["client_size_min"], row["client_size_median"], row["client_size_max"]) == (10, 10, 20)
    assert row["client_sizes"] == "10;10;20"
    assert row["modality"] == "text" and row["classes"] == 3
    assert len(table) == 1
    md = (out / "d.md").read_text()
    assert "| toy" in md and "10–20 (median 10)" in md
    tex = (out / "d.tex").read_text()
    assert r"\begin{tabular}" in tex and "toy & fhbench & text & 3 & 100 & 40 & 3 & 10--20 (10) & 2" in tex


def test_dataset_table_measures_realised_parts_and_the_test_bias(tmp_path, tiny):
    prep, split = tiny
    out = tmp_path / "out"
    row = write_dataset_table([("toy", "fhbench", prep, split)], out / "d.csv", out / "d.md", out / "d.tex").iloc[0]
    # Realised part sizes per client: train 4, 4, 8; val 3, 3, 6; test 3, 3, 6.
    assert (row["train_min"], row["train_median"], row["train_max"]) == (4, 4, 8)
    assert (row["val_min"], row["val_median"], row["val_max"]) == (3, 3, 6)
    assert (row["test_min"], row["test_median"], row["test_max"]) == (3, 3, 6)
    assert (row["train_share"], row["val_share"], row["test_share"]) == pytest.approx((16 / 40, 12 / 40, 12 / 40))
    # Majority class per client: 10/10, 4/10 (class a: the first of the tied a and b), 20/20 of the
    # data; in the test parts 3/3, 1/3, 6/6.
    assert row["majority_share_data"] == pytest.approx((1 + 0.4 + 1) / 3)
    assert row["majority_share_test"] == pytest.approx((1 + 1 / 3 + 1) / 3)
    md = (out / "d.md").read_text()
    assert "4–8 (4)" in md and "40/30/30" in md and "80% → 78%" in md
    assert "4--8 (4)" in (out / "d.tex").read_text()


def test_plot_split_writes_pdf_and_png_deterministically(tmp_path, tiny):
    prep, split = tiny
    counts = plot_split(prep, split, tmp_path / "f.pdf", tmp_path / "f.png")
    assert counts.tolist() == [[10, 0, 0], [4, 4, 2], [0, 0, 20]]
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_split(prep, split, tmp_path / "g.pdf", tmp_path / "g.png")
    assert (tmp_path / "f.pdf").read_bytes() == (tmp_path / "g.pdf").read_bytes()
    assert (tmp_path / "f.png").read_bytes() == (tmp_path / "g.png").read_bytes()


def test_plot_split_natural_clients(tmp_path, tiny):
    prep, _ = tiny
    split = split_json(
        tmp_path / "nat.json",
        [{"train": [1, 1, 0], "val": [1, 0, 0], "test": [1, 0, 0]}, {"train": [0, 1, 1], "val": [0, 1, 0], "test": [0, 0, 1]}],
        scheme="natural",
        groups=["p7", "p2"],
    )
    counts = plot_split(prep, split, tmp_path / "n.pdf", tmp_path / "n.png")
    assert counts.tolist() == [[3, 1, 0], [0, 2, 2]]
    assert (tmp_path / "n.png").stat().st_size > 1000
