"""The experiment grid: experiments → runs, table/figure targets, and config cross-checks."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from fhbench import grid
from fhbench.config import load_config, validate_config
from fhbench.reporting import FIGURE_KINDS, TABLE_KINDS


@pytest.fixture(scope="module", params=["config/config.yaml", "config/demo.yaml"])
def config(request, repo):
    return load_config(repo / request.param)


@pytest.fixture
def demo(repo):
    return yaml.safe_load((repo / "config" / "demo.yaml").read_text())


def test_both_configs_validate_and_define_every_ablation(config):
    assert {"main", "layers", "weights", "share", "self_weight", "rank", "heterogeneity", "clients5"} <= set(config["experiments"])
    het = config["experiments"]["heterogeneity"]
    assert [config["partitions"][p]["alpha"] for p in het["partitions"]] == [0.1, 1.0, 10.0]
    assert {config["partitions"][p]["scheme"] for p in het["partitions"]} == {"dirichlet"}
    assert config["partitions"]["clients5"]["n_clients"] == 5
    assert [config["variants"][v].get("lora", {}).get("rank", 8) for v in config["experiments"]["rank"]["variants"]] == [4, 8, 16]


def test_experiment_runs_cross_the_lists_and_honour_seed_overrides(demo):
    demo = validate_config(demo)
    layers = grid.experiment_runs(demo, "layers")
    assert {k.variant for k in layers} == {"default", "layers_first_half", "layers_second_half"}
    assert {k.seed for k in layers} == set(demo["experiments"]["layers"].get("seeds", demo["seeds"]))
    main = grid.experiment_runs(demo, "main")
    exp = demo["experiments"]["main"]
    methods = exp["algorithms"] + exp.get("references", [])  # reference rows (local, centralized) run too
    assert len(main) == len(exp["datasets"]) * len(methods) * len(exp.get("seeds", demo["seeds"]))
    assert {k.algorithm for k in main} == set(methods)
    # runs shared by several experiments are run once
    all_runs = grid.all_runs(demo)
    assert len(all_runs) == len(set(all_runs))
    assert set(main) | set(layers) <= set(all_runs)


def test_targets(demo):
    demo = validate_config(demo)
    tables = grid.table_targets(demo, "main")
    assert "results/demo/tables/main_accuracy.tex" in tables and "results/demo/tables/main_macro_f1.csv" in tables
    assert "results/demo/tables/layers_accuracy.md" in grid.table_targets(demo)
    assert "results/demo/figures/heterogeneity_sweep.pdf" in grid.figure_targets(demo)
    assert grid.final_targets(demo)[-1] == "results/demo/REPORT.md"
    assert set(grid.figure_runs(demo, "heterogeneity_sweep")) == set(grid.experiment_runs(demo, "heterogeneity"))


def test_experiment_spec_carries_its_runs(demo):
    demo = validate_config(demo)
    spec = grid.experiment_spec(demo, "heterogeneity")
    assert spec["kind"] == "partitions" and spec["compare"] == ["epfl", "fedavg"]
    assert len(spec["runs"]) == len(grid.experiment_runs(demo, "heterogeneity"))
    assert grid.partition_alphas(demo)["dir10"] == 10.0


def test_schema_enums_match_the_registries(repo):
    schema = yaml.safe_load((repo / "config" / "schemas" / "config.schema.yaml").read_text())
    experiment = schema["properties"]["experiments"]["additionalProperties"]["properties"]
    figure = schema["properties"]["figures"]["additionalProperties"]["properties"]
    assert set(experiment["kind"]["enum"]) == set(TABLE_KINDS)
    assert set(figure["kind"]["enum"]) == set(FIGURE_KINDS)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["figures"]["convergence"].update(experiment="nope"), "figures.convergence.experiment"),
        (lambda c: c["figures"]["convergence"].update(kind="pie"), "figures.convergence.kind"),
        (lambda c: c["experiments"]["main"].update(kind="bar"), "experiments.main.kind"),
        (lambda c: c["experiments"]["heterogeneity"].update(compare=["epfl", "scaffold"]), "experiments.heterogeneity.compare"),
        (
            lambda c: c["experiments"]["main"].update(variants=["layers_first_half"]),
            "variant 'layers_first_half' sets ['layers'], which algorithm 'fedavg'",
        ),
        (lambda c: c.update(report={"headline": "nope"}), "report.headline"),
        (lambda c: c["experiments"]["main"].update(metrics=["auc"]), "experiments.main.metrics"),
    ],
)
def test_bad_reporting_config_names_the_key(demo, edit, message):
    bad = copy.deepcopy(demo)
    edit(bad)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_config(bad)


def test_config_checks_import_neither_torch_nor_transformers(repo):
    # Every `snakemake -n` runs these checks; importing torch would add ~3 s to each.
    code = (
        "import sys; from fhbench.config import load_config; "
        f"load_config({str(repo / 'config' / 'config.yaml')!r}); "
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout


def test_references_run_once_per_column_in_their_default_setting(demo):
    runs = grid.experiment_runs(demo, "algorithms")
    refs = [k for k in runs if k.algorithm in ("local", "centralized")]
    assert {k.variant for k in refs} == {"default"}
    assert len(refs) == 2 * len(demo["experiments"]["algorithms"]["datasets"])
    spec = grid.experiment_spec(demo, "algorithms")
    assert spec["references"] == ["local", "centralized"] and spec["eval_point"] == "local"
    bad = copy.deepcopy(demo)
    bad["experiments"]["algorithms"]["references"] = ["nope"]
    with pytest.raises(grid.ConfigError, match="experiments.algorithms.references: 'nope'"):
        grid.check_references(bad)


def test_mixing_figures_read_the_runs_mixing_files(demo):
    inputs = grid.figure_inputs(demo, "epfl_weights")
    assert inputs and all(p.endswith("/mixing.csv") for p in inputs)
    assert all(p.endswith("/metrics.csv") for p in grid.figure_inputs(demo, "convergence"))
    # The demo scores `received` only in the runs of experiments that ask for it.
    assert grid.resolve_run_config(demo, grid.experiment_runs(demo, "main")[0])["eval_points"] == ["local", "received"]
    layers_only = [k for k in grid.experiment_runs(demo, "layers") if k.variant != "default"]
    assert grid.resolve_run_config(demo, layers_only[0])["eval_points"] == ["local"]
    paper = copy.deepcopy(demo)
    del paper["training"]["eval_points"]
    assert grid.resolve_run_config(paper, layers_only[0])["eval_points"] == ["local", "received"]
    assert grid.partition_params(demo, "organamnist", "planted4")["n_groups"] == 4
