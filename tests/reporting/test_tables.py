"""Tables from tiny hand-made tidy metrics whose protocol scores are known exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fhbench.reporting.tables import accuracy_table, to_html, to_latex, to_markdown, write_accuracy_table
from tests.reporting.tidy import tidy_metrics

BASE = {"fedavg": 0.60, "epfl": 0.80}
DATASET_SHIFT = {"img1": 0.0, "img2": 0.10, "snd": -0.20}
MODALITY = {"img1": "image", "img2": "image", "snd": "audio"}


def score(dataset, partition, algorithm, variant, seed):
    return BASE[algorithm] + DATASET_SHIFT[dataset] + 0.02 * seed


def runs(datasets=("img1", "img2", "snd"), partitions=("p",), seeds=(0, 1)):
    return [(d, p, a, "default", s) for d in datasets for p in partitions for a in BASE for s in seeds]


@pytest.fixture(scope="module")
def table():
    return accuracy_table(tidy_metrics(runs(), score), modality=MODALITY, datasets=["img1", "img2", "snd"], algorithms=["fedavg", "epfl"])


def test_mean_and_std_over_seeds(table):
    cell = table[(table.dataset == "img2") & (table.algorithm == "epfl")].iloc[0]
    assert cell["mean"] == pytest.approx(0.80 + 0.10 + 0.01)
    assert cell["std"] == pytest.approx(np.std([0.90, 0.92], ddof=1))
    assert cell["n_seeds"] == 2 and cell["modality"] == "image"


def test_columns_grouped_by_modality_with_averages(table):
    columns = list(dict.fromkeys(table["column"]))
    assert columns == ["img1", "img2", "image avg", "snd", "avg"]
    # audio has one column: no audio average; "avg" is the average over all modalities.
    image_avg = table[(table.column == "image avg") & (table.algorithm == "fedavg")].iloc[0]
    assert image_avg["mean"] == pytest.approx(np.mean([0.60, 0.70, 0.62, 0.72]))
    # per seed average first, then std over seeds: seeds differ by exactly 0.02
    assert image_avg["std"] == pytest.approx(np.std([0.65, 0.67], ddof=1))
    overall = table[(table.column == "avg") & (table.algorithm == "epfl")].iloc[0]
    assert overall["mean"] == pytest.approx(np.mean([0.80, 0.90, 0.60]) + 0.01)


def test_best_per_column(table):
    best = table[table.best]
    assert set(best["algorithm"]) == {"epfl"}
    assert set(best["column"]) == set(table["column"])


def test_average_skips_methods_missing_a_column():
    metrics = tidy_metrics(runs(), score)
    metrics = metrics[~((metrics.algorithm == "fedavg") & (metrics.dataset == "img2"))]
    table = accuracy_table(metrics, modality=MODALITY)
    assert not ((table.column == "image avg") & (table.algorithm == "fedavg")).any()
    assert ((table.column == "image avg") & (table.algorithm == "epfl")).any()


def test_several_partitions_become_columns():
    metrics = tidy_metrics(runs(datasets=("img1",), partitions=("dir0.1", "dir1")), score)
    table = accuracy_table(metrics, modality=MODALITY, partitions=["dir1", "dir0.1"], averages=False)
    assert list(dict.fromkeys(table["column"])) == ["img1 (dir1)", "img1 (dir0.1)"]


def test_other_metrics_use_the_best_validation_round():
    table = accuracy_table(tidy_metrics(runs(datasets=("img1",)), score), metric="macro_f1", modality=MODALITY)
    cell = table[table.algorithm == "fedavg"].iloc[0]
    assert cell["mean"] == pytest.approx(0.61 - 0.2)
    assert (table["metric"] == "macro_f1").all()


def test_markdown_bolds_the_best_and_labels_modalities(table):
    md = to_markdown(table, "Main results")
    assert md.startswith("# Main results")
    epfl = next(line for line in md.splitlines() if line.startswith("| epfl "))
    fedavg = next(line for line in md.splitlines() if line.startswith("| fedavg "))
    assert "**91.00 ± 1.41**" in epfl
    assert "**" not in fedavg
    assert "image · img1" in md and "audio · snd" in md and "image · image avg" in md


def test_latex_is_booktabs_with_a_modality_header(table):
    tex = to_latex(table, "Main results", "main_accuracy")
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\label{tab:main_accuracy}", r"\multicolumn{3}{c}{image}"):
        assert token in tex
    assert r"\cmidrule(lr){2-4}" in tex and r"\cmidrule(lr){5-5}" in tex
    assert r"\textbf{91.00 $\pm$ 1.41}" in tex
    header = next(line for line in tex.splitlines() if line.startswith("Method"))
    assert header.count("&") == 5
    assert "image avg" in header and "\\_" not in header


def test_latex_escapes_underscores():
    metrics = tidy_metrics([("my_data", "p", "fedavg", "rank_4", 0)], lambda *a: 0.5)
    tex = to_latex(accuracy_table(metrics, modality={"my_data": "time_series"}), "T", "t")
    assert r"my\_data" in tex and r"fedavg (rank\_4)" in tex and "time series" in tex


def test_html_table(table):
    page = to_html(table, "Main results")
    assert page.count("<tr>") == 2 + 2  # two header rows, two methods
    assert '<th colspan="3" class="modality">image</th>' in page
    assert "<b>91.00 ± 1.41</b>" in page


def test_write_accuracy_table_writes_every_format(tmp_path):
    paths = []
    metrics = tidy_metrics(runs(), score)
    for i, (_, frame) in enumerate(metrics.groupby(["dataset", "algorithm", "seed"])):
        paths.append(tmp_path / f"m{i}.csv")
        frame.to_csv(paths[-1], index=False)
    out = {ext: tmp_path / "tables" / f"main_accuracy.{ext}" for ext in ("csv", "md", "tex", "html")}
    write_accuracy_table(paths, out["csv"], out["md"], out["tex"], out["html"], title="Main", spec={"name": "main"})
    # Every format holds the same cells, computed by hand from score(): epfl on img1 scores 0.80 and
    # 0.82 over seeds 0 and 1 (81.00 ± 1.41, std with ddof 1), img2 0.90/0.92, snd 0.60/0.62; the
    # last column (no modality given: one group, "other avg") is the mean of the three; fedavg is 20 points lower everywhere.
    cells = {
        "epfl": ["81.00 ± 1.41", "91.00 ± 1.41", "61.00 ± 1.41", "77.67 ± 1.41"],
        "fedavg": ["61.00 ± 1.41", "71.00 ± 1.41", "41.00 ± 1.41", "57.67 ± 1.41"],
    }
    csv = pd.read_csv(out["csv"])
    assert {"modality", "dataset", "method", "mean", "std", "n_seeds", "best"} <= set(csv.columns)
    epfl_img1 = csv[(csv.method == "epfl") & (csv.column == "img1")].iloc[0]
    assert (
        epfl_img1["mean"] == pytest.approx(0.81) and epfl_img1["std"] == pytest.approx(np.std([0.80, 0.82], ddof=1)) and epfl_img1["best"]
    )
    md = out["md"].read_text()
    assert md.startswith("# Main")
    assert "| epfl | " + " | ".join(f"**{c}**" for c in cells["epfl"]) + " |" in md
    assert "| fedavg | " + " | ".join(cells["fedavg"]) + " |" in md
    tex = out["tex"].read_text()
    assert "\\begin{tabular}" in tex and "\\label{tab:main_accuracy}" in tex
    assert "fedavg & " + " & ".join(c.replace("±", "$\\pm$") for c in cells["fedavg"]) + " \\\\" in tex
    assert html_rows(out["html"].read_text()) == {method: [method, *row] for method, row in cells.items()}
    assert "<title>Main</title>" in out["html"].read_text()


def html_rows(page: str) -> dict[str, list[str]]:
    """The body rows of the page's results table, read with the standard library's HTML parser."""
    from html.parser import HTMLParser

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.in_body, self.cell = [], False, None

        def handle_starttag(self, tag, attrs):
            if tag == "tbody":
                self.in_body = True
            elif self.in_body and tag == "tr":
                self.rows.append([])
            elif self.in_body and tag in ("th", "td"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag == "tbody":
                self.in_body = False
            elif self.in_body and tag in ("th", "td"):
                self.rows[-1].append(self.cell.strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Rows()
    parser.feed(page)
    return {row[0]: row for row in parser.rows}


def test_a_single_seed_shows_no_std():
    metrics = tidy_metrics(runs(datasets=("img1",), seeds=(0,)), score)
    table = accuracy_table(metrics, modality=MODALITY)
    md, tex, page = to_markdown(table, "T"), to_latex(table, "T", "t"), to_html(table, "T")
    assert "| **80.00** |" in md and "±" not in md.split("\n\n")[-1] and "one seed" in md
    assert r"\textbf{80.00}" in tex and r"$\pm$" not in tex.split(r"\midrule")[1]
    assert "<b>80.00</b>" in page


def test_reference_rows_come_last_unbolded_and_unranked():
    refs = {"fedavg": 0.60, "epfl": 0.80, "centralized": 0.95}
    runs_ = [(d, "p", a, "default", s) for d in ("img1", "img2") for a in refs for s in (0, 1)]
    metrics = tidy_metrics(runs_, lambda d, p, a, v, s: refs[a] + 0.01 * s)
    table = accuracy_table(metrics, modality=MODALITY, algorithms=["fedavg", "epfl"], references=["centralized"])
    central = table[table.algorithm == "centralized"]
    assert (central.method == "centralized (reference)").all() and not central.best.any() and central["rank"].isna().all()
    assert table[table.best].algorithm.unique().tolist() == ["epfl"]  # best among the methods, not the bound
    assert list(dict.fromkeys(table.method)) == ["fedavg", "epfl", "centralized (reference)"]
    md = to_markdown(table, "T")
    assert "| epfl | 1 | 1 | 1 | 1.00 |" in md and "| fedavg | 2 | 2 | 2 | 2.00 |" in md
    assert "centralized (reference) | 95.50" in md.replace("**", "")


def test_tables_choose_the_evaluation_point():
    metrics = tidy_metrics(runs(datasets=("img1",)), score).assign(eval_point="local")
    received = metrics[metrics.split.isin(["val", "test"])].assign(eval_point="received")
    received.loc[received.split == "test", "value"] = 0.3
    both = pd.concat([metrics, received], ignore_index=True)
    local = accuracy_table(both, modality=MODALITY)
    assert local[local.algorithm == "epfl"]["mean"].iloc[0] == pytest.approx(0.81)
    got = accuracy_table(both, modality=MODALITY, eval_point="received")
    assert got["mean"].tolist() == pytest.approx([0.3, 0.3]) and (got.eval_point == "received").all()
    assert "model received from the server" in to_markdown(got, "T")


def test_cells_carry_worst_and_bottom10_averaged_over_seeds():
    # 20 clients alternate score ± 0.05: the worst 10% (two clients) and the worst one both sit at score − 0.05.
    metrics = tidy_metrics(runs(datasets=("img1",)), score, clients=20)
    table = accuracy_table(metrics, modality=MODALITY, averages=False)
    cell = table[table.algorithm == "epfl"].iloc[0]
    assert cell["worst"] == pytest.approx(0.81 - 0.05)  # seeds 0 and 1: 0.80 and 0.82
    assert cell["bottom10"] == pytest.approx(0.81 - 0.05)
    text = to_markdown(table, "T")
    assert "Worst-off clients" in text and "| epfl | 76.00 (76.00) |" in text


def test_average_columns_average_bottom10_over_columns(table):
    avg = table[(table.column == "image avg") & (table.algorithm == "fedavg")].iloc[0]
    cells = table[table.dataset.isin(["img1", "img2"]) & (table.algorithm == "fedavg")]
    assert avg["bottom10"] == pytest.approx(cells["bottom10"].mean())
