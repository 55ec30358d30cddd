"""The claims table from tiny hand-made tidy metrics: verdicts computed by hand, and every way a
claim can fail to be computed (`not run`, with the reason), never a crash or a silent gap."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from fhbench import grid
from fhbench.config import validate_config
from fhbench.reporting import claims
from fhbench.reporting.claims import (
    CLAIMS,
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_RUN,
    SUPPORTED,
    claims_section,
    forest_plot,
    judge_claims,
    needed_runs,
    to_markdown,
    verdict,
)
from fhbench.reporting.report import DEMO_WARNING, build_report
from tests.conftest import REPO
from tests.reporting.tidy import tidy_metrics


def spec(name, runs, **extra):
    return {
        "name": name,
        "kind": "variants",
        "title": name,
        "runs": [list(r) for r in runs],
        "datasets": sorted({r[0] for r in runs}),
        "partitions": sorted({r[1] for r in runs}),
        "algorithms": sorted({r[2] for r in runs}),
        "variants": sorted({r[3] for r in runs}),
        **extra,
    }


def constant(value):
    return lambda dataset, partition, algorithm, variant, seed: value


def metrics_of(*parts):
    """Concatenated tidy metrics: each part is (runs, score, spread) with 4 clients."""
    return pd.concat([tidy_metrics(runs, score, rounds=3, clients=4, spread=spread) for runs, score, spread in parts], ignore_index=True)


def rows(table, number):
    return table[table["claim"] == number].reset_index(drop=True)


SHARE = [("organamnist", "fhbench", "epfl", v, 0) for v in ("default", "share_b", "share_ab")]


@pytest.fixture(scope="module")
def share_table():
    """Claim 6 by hand. Sharing A scores 0.75/0.65 on alternate clients (4 clients, one seed);
    sharing B 0.65/0.55: every paired difference is +0.10, so the mean is 0.10 and every bootstrap
    mean is 0.10: interval [0.10, 0.10], above 0, supported. Sharing both scores 0.70 on every
    client: the differences are +0.05, −0.05, +0.05, −0.05, mean 0; a resample of four draws is
    all −0.05 with probability 1/16 > 2.5% (all +0.05 likewise), so the 95% percentile interval is
    [−0.05, +0.05]: it holds 0, inconclusive. Both alternatives: the smallest bounds, inconclusive."""
    metrics = metrics_of(
        ([SHARE[0]], constant(0.70), 0.05),
        ([SHARE[1]], constant(0.60), 0.05),
        ([SHARE[2]], constant(0.70), 0.0),
    )
    return judge_claims(metrics, {"share": spec("share", SHARE)})


def test_a_supported_verdict_computed_by_hand(share_table):
    row = rows(share_table, 6).set_index("scope").loc["vs epfl (share_b)"]
    assert row["estimate"] == pytest.approx(0.10) and row["ci_low"] == pytest.approx(0.10) and row["ci_high"] == pytest.approx(0.10)
    assert row["n"] == 4 and row["verdict"] == SUPPORTED
    assert "3 runs of share (seeds 0)" in row["evidence"]


def test_an_inconclusive_verdict_computed_by_hand(share_table):
    six = rows(share_table, 6)
    row = six.set_index("scope").loc["vs epfl (share_ab)"]
    assert row["estimate"] == pytest.approx(0.0, abs=1e-12)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(-0.05), pytest.approx(0.05))
    assert row["n"] == 4 and row["verdict"] == INCONCLUSIVE
    head = six.iloc[0]  # the claim's verdict comes first: the smallest bounds of its parts
    assert head["scope"] == "every alternative" and head["verdict"] == INCONCLUSIVE
    assert (head["ci_low"], head["ci_high"]) == (pytest.approx(-0.05), pytest.approx(0.05))


def test_the_published_figure_against_the_runs_interval():
    # EPFL's clients score 0.89/0.87 (mean 0.88): differences ±0.01 from the published 88%, interval
    # [−0.01, +0.01] inside "about 88%" (±2 points): supported. At 0.80/0.78 it lies below: contradicted.
    run = [("organamnist", "clients5", "epfl", "default", 0)]
    experiments = {"clients5": spec("clients5", run)}
    near = rows(judge_claims(metrics_of((run, constant(0.88), 0.01)), experiments), 4).iloc[0]
    assert near["estimate"] == pytest.approx(0.0, abs=1e-12) and near["ci_low"] == pytest.approx(-0.01)
    assert near["verdict"] == SUPPORTED and "EPFL 88.0% against the published 88%" in near["evidence"]
    far = rows(judge_claims(metrics_of((run, constant(0.79), 0.01)), experiments), 4).iloc[0]
    assert far["estimate"] == pytest.approx(-0.09) and far["verdict"] == CONTRADICTED


def test_the_verdict_rule():
    assert verdict(0.01, 0.05) == SUPPORTED
    assert verdict(-0.05, -0.01) == CONTRADICTED and verdict(0.0, 0.0) == CONTRADICTED  # equal is not better
    assert verdict(-0.01, 0.05) == INCONCLUSIVE
    assert verdict(-0.01, 0.01, (-0.02, 0.02)) == SUPPORTED and verdict(0.03, 0.05, (-0.02, 0.02)) == CONTRADICTED
    assert verdict(0.01, 0.05, (-0.02, 0.02)) == INCONCLUSIVE
    assert verdict(math.nan, 0.1) == NOT_RUN


def test_cost_reads_the_runs_bytes_and_wall_time():
    # EPFL sends 500 bytes per client and round and runs 10 s; every baseline 1000 bytes and 20 s:
    # every paired relative saving is 1 − 1/2 = 0.5, on two datasets (two paired runs per baseline).
    runs = [(d, "fhbench", a, "default", 0) for d in ("organamnist", "icbhi") for a, _ in (claims.EPFL, *claims.BASELINES)]
    metrics = tidy_metrics(runs, constant(0.7), rounds=2, clients=2, bytes_per_client=lambda a, v: 500 if a == "epfl" else 1000)
    infos = [
        {"wall_seconds": 10.0 if r[2] == "epfl" else 20.0, "config": dict(zip(["dataset", "partition", "algorithm", "variant", "seed"], r))}
        for r in runs
    ]
    five = rows(judge_claims(metrics, {"main": spec("main", runs)}, infos), 5).set_index("scope")
    for scope in ("communication", "run time", "communication and run time"):
        assert five.loc[scope, "estimate"] == pytest.approx(0.5) and five.loc[scope, "verdict"] == SUPPORTED
        assert five.loc[scope, "n"] == 2
    assert "run.json wall_seconds" in five.loc["run time", "evidence"]
    # Without run.json records the run time cannot be judged: said, not guessed.
    blind = rows(judge_claims(metrics, {"main": spec("main", runs)}), 5).set_index("scope")
    assert blind.loc["run time", "verdict"] == NOT_RUN and "14 run(s) without wall_seconds" in blind.loc["run time", "evidence"]
    assert blind.loc["communication and run time", "verdict"] == NOT_RUN


def test_every_claim_has_a_row_even_with_nothing_run():
    table = judge_claims(tidy_metrics([], constant(0.5)), {})
    assert sorted(table["claim"]) == [c.number for c in CLAIMS] and (table["verdict"] == NOT_RUN).all()
    assert "experiments.weights is not in this config" in table.set_index("claim").loc[2, "evidence"]


def test_a_missing_method_a_single_client_and_no_seeds_are_not_run():
    # Claim 1 with only FedAvg beside EPFL: every dataset names the baselines experiments.main lacks.
    main = [("organamnist", "fhbench", a, "default", 0) for a in ("fedavg", "epfl")]
    one = rows(judge_claims(tidy_metrics(main, constant(0.7)), {"main": spec("main", main)}), 1).set_index("scope")
    assert one.loc["organamnist", "verdict"] == NOT_RUN
    assert (
        "no runs of fedprox, scaffold, apfl, apple, fedala on organamnist (experiments.main.algorithms"
        in one.loc["organamnist", "evidence"]
    )
    assert "not in experiments.main.datasets" in one.loc["pubmedrct", "evidence"]
    assert one.loc["every dataset", "verdict"] == NOT_RUN and len(one) == 10
    # One client and one seed: a single paired score has no interval.
    single = tidy_metrics(SHARE, constant(0.7), clients=1)
    six = rows(judge_claims(single, {"share": spec("share", SHARE)}), 6).set_index("scope")
    assert six.loc["vs epfl (share_b)", "verdict"] == NOT_RUN and "1 paired client scores" in six.loc["vs epfl (share_b)", "evidence"]
    # Runs listed by the config but none finished (no seed): no metrics, so not run, naming why.
    layers = [("icbhi", "fhbench", "epfl", v, 0) for v in ("default", "layers_first_half", "layers_second_half")]
    three = rows(judge_claims(tidy_metrics([], constant(0.5)), {"layers": spec("layers", layers)}), 3).set_index("scope")
    assert three.loc["audio: all − first_half", "verdict"] == NOT_RUN
    assert "listed but without finished runs" in three.loc["audio: all − first_half", "evidence"]
    assert "no image dataset in experiments.layers.datasets" in three.loc["image: all − first_half", "evidence"]


def test_a_contradicted_part_contradicts_the_claim_even_if_others_were_not_run():
    layers = [("organamnist", "fhbench", "epfl", v, 0) for v in ("default", "layers_first_half", "layers_second_half")]
    metrics = metrics_of(([layers[0], layers[2]], constant(0.6), 0.05), ([layers[1]], constant(0.7), 0.05))
    three = rows(judge_claims(metrics, {"layers": spec("layers", layers)}), 3)
    assert three.iloc[0]["verdict"] == CONTRADICTED and three.iloc[0]["estimate"] == pytest.approx(-0.1)
    assert "6 not run" in three.iloc[0]["evidence"]


def test_the_smaller_datasets_part_of_claim_2():
    # Similarity gains 10 points on OrganC/S and 2 on OrganA (constant per client): intervals are
    # points, and their difference is 8 points [8, 8]: supported, as is the pooled improvement.
    runs = [(d, "fhbench", "epfl", v, 0) for d in ("organamnist", "organcmnist", "organsmnist") for v in ("default", "weights_uniform")]

    def score(dataset, partition, algorithm, variant, seed):
        return 0.6 + (0.0 if variant == "weights_uniform" else 0.02 if dataset == "organamnist" else 0.10)

    two = rows(judge_claims(tidy_metrics(runs, score), {"weights": spec("weights", runs)}), 2).set_index("scope")
    part = two.loc["organcmnist, organsmnist vs others"]
    assert part["estimate"] == pytest.approx(0.08) and part["ci_low"] == pytest.approx(0.08) and part["verdict"] == SUPPORTED
    assert two.loc["both parts", "verdict"] == SUPPORTED
    assert two.loc["pooled over 3 dataset(s)", "estimate"] == pytest.approx((0.02 + 0.10 + 0.10) / 3)


@pytest.mark.parametrize("configfile", ["config/demo.yaml", "config/config.yaml"])
def test_the_claims_read_only_their_runs(configfile):
    config = validate_config(yaml.safe_load((REPO / configfile).read_text()))
    experiments = {name: grid.experiment_spec(config, name) for name in config["experiments"]}
    runs = needed_runs(experiments)
    assert set(runs) <= {(k.dataset, k.partition, k.algorithm, k.variant, k.seed) for k in grid.all_runs(config)}
    assert {r[1] for r in runs} == {"fhbench", "clients5"}  # no heterogeneity, planted or natural split
    assert {r[2] for r in runs} == {"epfl"} | {a for a, _ in claims.BASELINES}
    assert ("organamnist", "fhbench", "epfl", "weights_uniform", 0) in runs
    if configfile == "config/config.yaml":  # every claim's experiment covers what the claim names
        assert {d for d, p, a, v, s in runs if v == "weights_uniform"} >= {"organcmnist", "organsmnist", "icbhi", "adftd", "pubmedrct"}
        assert {d for d, p, a, v, s in runs if a == "fedala"} == set(claims.PAPER_DATASETS)


def test_markdown_report_section_and_forest_plot(share_table, tmp_path):
    text = to_markdown(share_table)
    assert "| **6. Sharing A and keeping B local beats sharing B, or both.** | every alternative |" in text
    section = "\n".join(claims_section(share_table, demo=True))
    assert "about the pipeline, not the paper" in section
    assert "| 6 | Sharing A and keeping B local beats sharing B, or both. | **inconclusive** |" in section
    assert "not run: experiments.main is not in this config" in section and "(`experiments.main` runs it)" in section
    report = build_report(
        tidy_metrics(SHARE, constant(0.7)),
        {"share": dict(spec("share", SHARE), kind="variants")},
        {},
        {},
        [],
        headline="share",
        demo=True,
        claims=share_table,
    )
    # REPORT.md: title, the demo warning, then the claims.
    assert report.split("\n")[2] == DEMO_WARNING and report.split("\n")[4] == "## Claims"
    from fhbench.reporting.figures import save_figure

    save_figure(forest_plot(share_table), [tmp_path / "claims.png"])
    assert (tmp_path / "claims.png").stat().st_size > 10_000
