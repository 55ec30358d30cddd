"""One figure or table as a Snakemake target runs only what it needs (real Snakemake dry runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhbench import grid
from fhbench.config import validate_config
from tests.conftest import copy_repo

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("targets") / "repo")


@pytest.fixture(scope="module")
def demo(workdir) -> dict:
    return validate_config(yaml.safe_load((workdir / "config" / "demo.yaml").read_text()))


def dry_run(workdir: Path, *targets: str, configfile: str = "config/demo.yaml") -> tuple[dict[str, int], set[str]]:
    """Job counts per rule and every output path the dry run would produce."""
    env = dict(os.environ, PYTHONPATH=f"{workdir / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", HF_HUB_OFFLINE="1")
    result = subprocess.run(
        SNAKEMAKE + [*targets, "-n", "--cores", "2", "--configfile", configfile],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = result.stdout + result.stderr
    stats = text[text.index("Job stats:") :]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}
    outputs = set()
    for line in re.findall(r"^\s+output: (.+)$", text, re.M):
        outputs.update(p.strip() for p in line.split(","))
    return counts, outputs


@pytest.mark.slow
def test_one_figure_runs_only_its_experiment(workdir, demo):
    counts, outputs = dry_run(workdir, f"{grid.figures_dir(demo)}/heterogeneity_sweep.pdf")
    runs = {k.metrics for k in grid.experiment_runs(demo, "heterogeneity")}
    assert {o for o in outputs if o.startswith("results/demo/runs/") and o.endswith("metrics.csv")} == runs
    assert counts["run_federation"] == len(runs)
    assert counts["make_partition"] == len(demo["experiments"]["heterogeneity"]["partitions"])
    assert counts["plot_figure"] == 1
    assert not {"make_table", "write_report", "all"} & set(counts)
    # Only the Dirichlet splits: no run or split of the paper's fhbench scheme.
    assert not any("/fhbench" in o for o in outputs if o.startswith(("results/demo/runs", "resources/partitions")))


@pytest.mark.slow
def test_one_table_runs_only_its_experiment(workdir, demo):
    counts, outputs = dry_run(workdir, f"{grid.tables_dir(demo)}/layers_accuracy.tex")
    runs = {k.metrics for k in grid.experiment_runs(demo, "layers")}
    assert {o for o in outputs if o.endswith("metrics.csv")} == runs
    (dataset,) = demo["experiments"]["layers"]["datasets"]
    assert demo["datasets"][dataset].get("pretrain"), "the demo backbone of this dataset is pretrained"
    assert counts == {
        # The dataset, and the separate public draw its demo backbone is pretrained on.
        "acquire_data": 2,
        "prepare_data": 2,
        "fetch_model": 1,
        "pretrain_model": 1,
        # One split, whose label priors the table shows, made by the same job.
        "make_partition": 1,
        "run_federation": len(runs),
        "make_table": 1,
    }


@pytest.mark.slow
def test_all_lists_every_table_figure_and_the_report(workdir, demo):
    counts, outputs = dry_run(workdir, "all")
    assert set(grid.final_targets(demo)) <= outputs
    assert counts["run_federation"] == len(grid.all_runs(demo))
    assert counts["plot_figure"] == len(demo["figures"])
    assert counts["make_table"] == sum(len(grid.experiment_metric_names(demo, e)) for e in demo["experiments"])
    assert counts["write_report"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/demo.yaml"])
def test_the_claims_table_runs_exactly_the_runs_the_claims_read(workdir, configfile):
    from fhbench.reporting.claims import needed_runs

    config = validate_config(yaml.safe_load((workdir / configfile).read_text()))
    counts, outputs = dry_run(workdir, f"{grid.tables_dir(config)}/claims.md", configfile=configfile)
    experiments = {name: grid.experiment_spec(config, name) for name in config["experiments"]}
    runs = {grid.RunKey(*run, grid.config_name(config)).metrics for run in needed_runs(experiments)}
    assert {o for o in outputs if o.endswith("metrics.csv")} == runs
    assert counts["run_federation"] == len(runs) < len(grid.all_runs(config))
    assert counts["judge_claims"] == 1 and not {"make_table", "plot_figure", "write_report", "all"} & set(counts)
