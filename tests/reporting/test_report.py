"""REPORT.md from tiny hand-made tidy metrics: counts, findings and deviations come from the inputs."""

from __future__ import annotations

import pytest
import yaml

from fhbench.reporting.report import (
    EXPERIMENT_KINDS,
    build_report,
    finding_client_spread,
    finding_communication,
    finding_main,
    finding_partitions,
    finding_variants,
    load_deviations,
    run_counts,
    select_runs,
    write_report,
)
from tests.reporting.tidy import tidy_metrics

ALPHAS = {"fhbench": 0.1, "dir0.1": 0.1, "dir1": 1.0, "dir10": 10.0}
GAP = {"dir0.1": 0.10, "dir1": 0.05, "dir10": 0.02}
VARIANT = {"default": 0.0, "first_half": -0.03, "second_half": 0.01}


def score(dataset, partition, algorithm, variant, seed):
    base = 0.6 + (GAP.get(partition, 0.2) if algorithm == "epfl" else 0.0)
    return base + VARIANT.get(variant, 0.0) + 0.01 * seed


def spec(name, kind, runs, **extra):
    return {
        "name": name,
        "kind": kind,
        "title": name.title(),
        "runs": runs,
        "datasets": sorted({r[0] for r in runs}),
        "partitions": sorted({r[1] for r in runs}),
        "algorithms": sorted({r[2] for r in runs}),
        "variants": sorted({r[3] for r in runs}),
        **extra,
    }


MAIN = [("ds", "fhbench", a, "default", s) for a in ("fedavg", "epfl") for s in (0, 1)]
HET = [("ds", p, a, "default", 0) for p in GAP for a in ("fedavg", "epfl")]
LAYERS = [("ds", "fhbench", "epfl", v, 0) for v in VARIANT]
RANK = [("ds", "fhbench", "epfl", v, 0) for v in ("rank4", "default")]
BYTES = {"rank4": 50, "default": 100}


@pytest.fixture(scope="module")
def metrics():
    return tidy_metrics(sorted(set(MAIN + HET + LAYERS + RANK)), score, bytes_per_client=lambda a, v: BYTES.get(v, 100))


def test_select_runs(metrics):
    assert len(select_runs(metrics, HET)[["partition", "algorithm"]].drop_duplicates()) == 6


def test_finding_main_names_the_best_and_its_margin(metrics):
    text = finding_main(select_runs(metrics, MAIN), spec("main", "main", MAIN), ALPHAS)
    assert "epfl scores highest (80.5%)" in text and "20.0 points above fedavg (60.5%)" in text and "best on 1 of 1" in text


def test_finding_main_compares_with_the_reference(metrics):
    s = spec("c5", "main", MAIN, reference={"value": 0.88, "algorithm": "epfl", "text": "paper"})
    assert "paper (88.0%); epfl here reaches 80.5% (-7.5 points)" in finding_main(select_runs(metrics, MAIN), s, ALPHAS)


def test_finding_partitions_reports_the_gap_per_alpha_and_its_trend(metrics):
    text = finding_partitions(select_runs(metrics, HET), spec("het", "partitions", HET, compare=["epfl", "fedavg"]), ALPHAS)
    assert "+10.0 points at α=0.1, +5.0 points at α=1, +2.0 points at α=10" in text
    assert "shrinks as α grows" in text


def test_finding_variants(metrics):
    text = finding_variants(select_runs(metrics, LAYERS), spec("layers", "variants", LAYERS), ALPHAS)
    assert "variant second_half scores highest (81.0%)" in text and "first_half lowest (77.0%)" in text
    assert "a 4.0 points range from one seed, so without a noise estimate" in text
    two_seeds = [("ds", "fhbench", "epfl", v, s) for v in VARIANT for s in (0, 1)]
    text = finding_variants(tidy_metrics(two_seeds, score), spec("layers", "variants", two_seeds), ALPHAS)
    assert "the 4.0 points range is larger than the largest seed std (0.7 points)" in text


def test_finding_communication(metrics):
    text = finding_communication(select_runs(metrics, RANK), spec("rank", "communication", RANK), ALPHAS)
    assert "epfl with rank4 sends 0.00 MB per run for 80.0%, with default 0.00 MB (2.0×) for 80.0% (+0.0 points)" in text


def test_finding_main_reports_a_tie(metrics):
    tie = [("ds", "fhbench", a, "default", 0) for a in ("fedavg", "epfl")]
    text = finding_main(tidy_metrics(tie, lambda *a: 0.5), spec("t", "main", tie), ALPHAS)
    assert "tied with" in text and "points above" not in text


def test_finding_convergence(metrics):
    from fhbench.reporting.report import finding_convergence

    # test accuracy climbs linearly to the score (80.5% over seeds): 0.805 * (0.5 + 0.5 / 4) at round 1
    text = finding_convergence(select_runs(metrics, MAIN))
    assert "epfl 50.3% at round 1, peak 80.5% at round 4, 80.5% at round 4" in text


def test_finding_client_spread(metrics):
    # clients alternate ±0.05 around the score: the std over 4 clients is 0.0577
    text = finding_client_spread(select_runs(metrics, MAIN))
    assert "epfl 5.8 points" in text and "fedavg 5.8 points" in text


def test_run_counts(metrics):
    counts = run_counts(metrics)
    assert counts["runs"] == len(set(MAIN + HET + LAYERS + RANK))
    assert counts["max_rounds"] == 4 and counts["max_clients"] == 4


def test_build_report_sections(metrics, tmp_path):
    experiments = {
        "main": spec("main", "main", MAIN),
        "heterogeneity": spec("heterogeneity", "partitions", HET, compare=["epfl", "fedavg"]),
        "layers": spec("layers", "variants", LAYERS),
        "rank": spec("rank", "communication", RANK),
    }
    figures = {
        "convergence": {"kind": "convergence", "experiment": "main", "title": "Conv"},
        "spread": {"kind": "client_spread", "experiment": "main", "title": "Spread"},
    }
    deviations = [{"published": "no seed", "here": "seeded", "why": "repeatable"}]
    text = build_report(metrics, experiments, figures, ALPHAS, deviations, extra_figures=["figures/split_ds_fhbench.png"])
    assert f"{run_counts(metrics)['runs']} federated runs" in text
    assert "## Headline table" in text and "**80.50 ± 0.71**" in text
    assert text.count("\n- **") == len(experiments)
    assert "![convergence](figures/convergence.png)" in text and "![split_ds_fhbench](figures/split_ds_fhbench.png)" in text
    assert "| no seed | seeded | repeatable |" in text
    assert "| heterogeneity | partitions | 6 |" in text


# Per experiment kind: its runs, extra spec keys, and a phrase of its finding computed by hand from
# score() above (e.g. epfl's mean over seeds 0 and 1 is 0.6 + 0.2 + 0.005 = 80.5%).
KIND_CASES = {
    "main": (MAIN, {}, "epfl scores highest (80.5%), 20.0 points above fedavg (60.5%)"),
    "variants": (LAYERS, {}, "variant second_half scores highest (81.0%)"),
    "partitions": (HET, {"compare": ["epfl", "fedavg"]}, "+10.0 points at α=0.1, +5.0 points at α=1, +2.0 points at α=10"),
    "communication": (RANK, {}, "epfl with rank4 sends 0.00 MB per run for 80.0%, with default 0.00 MB (2.0×)"),
    "planted": (MAIN, {"compare": ["fedavg"]}, "epfl (80.5%) beats fedavg (60.5%): +20.0 points"),
    # dir0.1 against dir1: epfl 0.6 + 0.10 → 0.6 + 0.05 (-5.0 points), fedavg 0.6 on both.
    "splits": (HET, {"partitions": ["dir0.1", "dir1"]}, "dir0.1 → dir1 (points): epfl -5.0, fedavg +0.0"),
}


def test_every_kind_has_a_finding(metrics):
    # A new kind needs its case here: a kind whose finding is missing or wrong must fail.
    assert set(EXPERIMENT_KINDS) == set(KIND_CASES)
    experiments = {kind: spec(kind, kind, runs, **extra) for kind, (runs, extra, _) in KIND_CASES.items()}
    text = build_report(metrics, experiments, {}, ALPHAS, [], headline="none")
    findings = text.split("## Findings\n")[1].split("\n## ")[0]
    for kind, (_, _, phrase) in KIND_CASES.items():
        line = next(line for line in findings.splitlines() if line.startswith(f"- **{kind.title()}** (`{kind}`"))
        assert phrase in line, (kind, line)


def test_deviations_file_of_the_repository(repo):
    items = load_deviations(repo / "report" / "deviations.yaml")
    assert len(items) >= 10 and all(item["why"] for item in items)


def test_bad_deviations_name_the_entry(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("- {published: a, here: b}\n")
    with pytest.raises(ValueError, match="entry 0 lacks"):
        load_deviations(path)


def test_write_report(metrics, tmp_path, repo):
    path = tmp_path / "m.csv"
    select_runs(metrics, MAIN).to_csv(path, index=False)
    out = tmp_path / "REPORT.md"
    write_report(
        out, [path], repo / "report" / "deviations.yaml", experiments={"main": spec("main", "main", MAIN)}, figures={}, alphas=ALPHAS
    )
    text = out.read_text()
    assert text.startswith("# FHBench reproduction report")
    # The whole report, not its first line: the run table, the headline numbers, the finding, and
    # every entry of the deviations file (read here with yaml, apart from load_deviations).
    assert "| main | main | 4 | ds | fhbench | epfl, fedavg | default | 2 |" in text
    assert "**80.50 ± 0.71**" in text and "60.50 ± 0.71" in text  # seeds 0 and 1: 0.80, 0.81 and 0.60, 0.61
    assert "epfl scores highest (80.5%)" in text
    deviations = yaml.safe_load((repo / "report" / "deviations.yaml").read_text())
    table = text.split("| published code | this reproduction | why |\n|---|---|---|\n")[1]
    assert table.splitlines() == [f"| {d['published']} | {d['here']} | {d['why']} |" for d in deviations]


def test_report_opens_with_provenance_and_a_demo_warning(metrics, tmp_path, repo):
    import json

    from fhbench import provenance

    path = tmp_path / "m.csv"
    select_runs(metrics, MAIN).to_csv(path, index=False)
    (tmp_path / "split.json").write_text("[]")
    infos = []
    for i, commit in enumerate(("1" * 40, "2" * 40)):
        prov = provenance.collect(provenance.now(), {"split": tmp_path / "split.json"})
        prov["git"] = {"commit": commit, "dirty": i == 1}
        infos.append(tmp_path / f"run{i}.json")
        infos[-1].write_text(
            json.dumps({"status": "completed", "wall_seconds": 7200, "cpu_seconds": 3600, "peak_rss_mb": 900.0, "provenance": prov})
        )
    out = tmp_path / "REPORT.md"
    common = dict(experiments={"main": spec("main", "main", MAIN)}, figures={}, alphas=ALPHAS, run_infos=infos, config_name="demo")
    text = write_report(out, [path], repo / "report" / "deviations.yaml", demo=True, **common)
    head = text.split("\n## What was run")[0]
    assert text.startswith("# FHBench reproduction report (demo)\n\n> **DEMO — NOT THE PAPER'S RESULTS.**")
    assert "generated twins" in head and "pretrained for seconds on a separate draw" in head and "not comparable" in head
    assert "`111111111111`; `222222222222 (dirty)`" in head and "more than one code state" in head
    assert f"`{provenance.versions()['torch']}`" not in head and f"torch {provenance.versions()['torch']}" in head
    assert "4.0 run-hours wall, 2.0 CPU-hours, peak memory 900.0 MB" in head
    real = write_report(out, [path], repo / "report" / "deviations.yaml", demo=False, **common)
    assert "DEMO" not in real and real.index("## Provenance") < real.index("## What was run")


@pytest.mark.parametrize("spread,verdict", [(0.004, "tie"), (0.02, "inconclusive")])
def test_variants_are_a_tie_only_inside_the_equivalence_margin(spread, verdict):
    # Two variants whose clients differ by ±spread around the same mean: the paired interval holds
    # 0; it is a tie only when it also lies within ±1 point, else inconclusive.
    runs = [("ds", "fhbench", "epfl", v, 0) for v in ("default", "uniform")]
    metrics = tidy_metrics(runs, lambda *a: 0.5)
    test = (metrics.split == "test") & (metrics.variant == "uniform")
    metrics.loc[test, "value"] += [spread if c % 4 < 2 else -spread for c in metrics.loc[test, "client"]]
    text = finding_variants(metrics, spec("w", "variants", runs), ALPHAS)
    if verdict == "tie":
        assert "both variants tie at" in text and "a tie: the interval lies within ±1.0 points" in text and "scores highest" not in text
    else:
        assert "both variants tie" not in text and "inconclusive: the interval holds 0 but reaches beyond ±1.0 points" in text
    assert "4 clients in 1 column(s), resampled within columns" in text


def test_eval_point_section_shows_the_ranking_at_both_points(metrics):
    import pandas as pd

    from fhbench.reporting.report import eval_point_section

    local = select_runs(metrics, MAIN).assign(eval_point="local")
    # At the received point fedavg is better than epfl: the order flips.
    received = local[local.split.isin(["val", "test"])].copy()
    received["eval_point"] = "received"
    received.loc[(received.split == "test") & (received.algorithm == "fedavg"), "value"] += 0.5
    lines = eval_point_section(pd.concat([local, received], ignore_index=True), spec("main", "main", MAIN))
    text = "\n".join(lines)
    assert "## Evaluation points" in text and "| epfl | 80.5% | 1.00 |" in text
    assert "local epfl > fedavg; received fedavg > epfl; the order changes." in text
    assert eval_point_section(local.drop(columns="eval_point"), spec("main", "main", MAIN)) == []
    # Equal average ranks are written as a tie.
    received.loc[(received.split == "test") & (received.algorithm == "fedavg"), "value"] -= 0.5
    received.loc[(received.split == "test") & (received.algorithm == "fedavg"), "value"] += 0.2
    same = "\n".join(eval_point_section(pd.concat([local, received], ignore_index=True), spec("main", "main", MAIN)))
    assert "received epfl = fedavg" in same


def test_mixing_section_and_planted_finding_quote_the_weights(metrics):
    import numpy as np

    from fhbench.mixing import client_relations, matrix_rows, mixing_frame
    from fhbench.reporting.report import finding_planted, mixing_section

    key = ("ds", "fhbench", "epfl", "default", 0)
    w = np.array([[0.5, 0.3, 0.1, 0.1], [0.3, 0.5, 0.1, 0.1], [0.1, 0.1, 0.5, 0.3], [0.1, 0.1, 0.3, 0.5]])
    labels = [np.array([0]), np.array([0]), np.array([1]), np.array([1])]
    mixing = mixing_frame(matrix_rows(key, 0, client_relations(labels, [0, 0, 1, 1])) + matrix_rows(key, 4, {"mixing": w}))
    main = select_runs(metrics, MAIN)
    text = "\n".join(mixing_section(main, mixing, spec("main", "main", MAIN), k=1))
    assert "| ds/fhbench | default | 60.0% | 33.3% | 60.0% |" in text and "(1.80×)" in text
    sentence = finding_planted(main, spec("planted", "planted", MAIN, compare=["fedavg"]), ALPHAS, mixing=mixing)
    assert "epfl (80.5%) beats fedavg (60.5%): +20.0 points" in sentence
    assert (
        "concentrate within the planted groups: 60.0% of each client's off-diagonal weight goes to its own group, against 33.3%" in sentence
    )


def test_figure_findings_read_one_evaluation_point(metrics, tmp_path):
    import pandas as pd

    local = select_runs(metrics, MAIN).assign(eval_point="local")
    received = local[local.split.isin(["val", "test"])].assign(eval_point="received", value=0.0)
    both = pd.concat([local, received], ignore_index=True)
    experiments = {"main": spec("main", "main", MAIN)}
    figures = {"convergence": {"kind": "convergence", "experiment": "main", "title": "C"}}
    text = build_report(both, experiments, figures, ALPHAS, [], headline="main")
    assert "epfl 50.3% at round 1, peak 80.5% at round 4" in text  # the local rows only, not averaged with 0.0
    spread = {"spread": {"kind": "client_spread", "experiment": "main", "title": "S", "eval_point": "received"}}
    text = build_report(both, experiments, spread, ALPHAS, [], headline="main")
    assert "epfl 0.0 points (worst client 0.0%)" in text  # the received rows only
