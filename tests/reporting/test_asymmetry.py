"""The A/B asymmetry's table and REPORT.md section, from hand-made asymmetry.csv rows."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fhbench.asymmetry import asymmetry_frame
from fhbench.reporting.asymmetry import A_MORE, B_MORE, NEITHER, missing_runs, section_markdown, summarise, write_asymmetry_report


def rows_for(dataset: str, algorithm: str, a_by_round, b_by_round, seed: int = 0, layers=(0, 1)):
    rows = []
    for r, (a, b) in enumerate(zip(a_by_round, b_by_round), start=1):
        for layer in layers:
            rows.append((dataset, "fhbench", algorithm, "default", seed, r, "A", layer, "cosine", a))
            rows.append((dataset, "fhbench", algorithm, "default", seed, r, "B", layer, "cosine", b))
            rows.append((dataset, "fhbench", algorithm, "default", seed, r, "A", layer, "norm", 0.01))
            rows.append((dataset, "fhbench", algorithm, "default", seed, r, "B", layer, "norm", 0.1))
    return rows


def test_summary_means_and_verdicts_by_hand():
    rows = rows_for("organamnist", "fedavg", [0.6, 0.4, 0.5], [0.1, 0.2, 0.3])  # A higher every round
    rows += rows_for("organamnist", "local", [0.1, 0.1, 0.1], [0.3, 0.3, 0.0])  # B mean higher, 2 of 3 rounds
    rows += rows_for("icbhi", "fedavg", [0.5, 0.0, 0.0], [0.1, 0.2, 0.2])  # A mean higher, but in 1 of 3 rounds
    summary = summarise(asymmetry_frame(rows)).set_index(["dataset", "algorithm"])
    fedavg = summary.loc[("organamnist", "fedavg")]
    assert fedavg["cosine_A"] == pytest.approx(0.5) and fedavg["cosine_B"] == pytest.approx(0.2)
    assert fedavg["rounds_A_higher"] == 3 and fedavg["rounds"] == 3 and fedavg["verdict"] == A_MORE
    assert fedavg["norm_A"] == pytest.approx(0.01) and fedavg["modality"] == "image"
    assert summary.loc[("organamnist", "local"), "verdict"] == B_MORE
    assert summary.loc[("icbhi", "fedavg"), "verdict"] == NEITHER


def test_seeds_are_averaged_per_round_and_nan_layers_are_counted():
    rows = rows_for("ptbxl", "fedavg", [0.4, 0.4], [0.2, 0.2], seed=0)
    rows += rows_for("ptbxl", "fedavg", [0.2, 0.2], [0.0, 0.0], seed=1)
    rows.append(("ptbxl", "fhbench", "fedavg", "default", 1, 1, "A", 2, "cosine", math.nan))  # a layer no two clients moved
    row = summarise(asymmetry_frame(rows)).iloc[0]
    assert row["cosine_A"] == pytest.approx(0.3) and row["cosine_B"] == pytest.approx(0.1)
    assert row["seeds"] == 2 and row["nan_layers"] == 1


def test_section_states_per_dataset_whether_a_is_more_shared_with_the_numbers():
    rows = rows_for("organamnist", "fedavg", [0.6, 0.4], [0.1, 0.2]) + rows_for("organamnist", "local", [0.3, 0.3], [0.1, 0.1])
    rows += rows_for("medabs", "fedavg", [0.1, 0.1], [0.5, 0.5])
    frame = asymmetry_frame(rows)
    expected = [["organamnist", "fhbench", "fedavg", "default", 0], ["medabs", "fhbench", "local", "default", 0]]
    text = section_markdown(summarise(frame), {"figures": ["ab_asymmetry"]}, missing_runs(frame, expected))
    assert "- **organamnist** (image, fhbench): A is more shared than B: under fedavg A more alike than B" in text
    assert "A 0.500, B 0.150; A higher in 2 of 2 rounds" in text
    assert "- **medabs** (text, fhbench): B is more shared than A" in text
    assert "[ab_asymmetry](figures/ab_asymmetry.png)" in text
    assert "1 run(s) recorded nothing and are left out: medabs/fhbench/local/default/seed0." in text


def test_write_report_from_files(tmp_path):
    paths = []
    for i, (dataset, algorithm) in enumerate([("organamnist", "fedavg"), ("organamnist", "local")]):
        path = tmp_path / f"{i}.csv"
        asymmetry_frame(rows_for(dataset, algorithm, [0.5], [0.1])).to_csv(path, index=False)
        paths.append(path)
    empty = tmp_path / "empty.csv"
    asymmetry_frame([]).to_csv(empty, index=False)  # e.g. the centralized reference: header only
    out = {k: tmp_path / f"out.{k}" for k in ("csv", "md", "section")}
    section = write_asymmetry_report([*paths, empty], {"figures": ["ab"], "runs": []}, out["csv"], out["md"], out["section"])
    table = pd.read_csv(out["csv"])
    assert list(table["algorithm"]) == ["fedavg", "local"] and (table["verdict"] == A_MORE).all()
    assert out["section"].read_text() == section and section.startswith("## The A/B asymmetry")
    assert "| organamnist/fhbench | image | fedavg | 0.500 | 0.100 | +0.400 | 1 of 1 |" in out["md"].read_text()


def test_no_rows_at_all_is_said():
    text = section_markdown(summarise(asymmetry_frame([])), {"figures": []})
    assert "No run of the asymmetry figures recorded any update" in text


def test_tiny_a_updates_are_flagged():
    rows = rows_for("icbhi", "fedavg", [0.6, 0.6], [0.1, 0.1])
    rows = [r[:-1] + (1e-9,) if r[6] == "A" and r[8] == "norm" else r for r in rows]  # A moves 1e-8 as far as B
    text = section_markdown(summarise(asymmetry_frame(rows)), {"figures": []})
    assert "Caution: A's updates are tiny next to B's (mean norm ratio A/B: fedavg 1e-08)" in text
    assert "Caution" not in section_markdown(summarise(asymmetry_frame(rows_for("icbhi", "fedavg", [0.6], [0.1]))), {"figures": []})
