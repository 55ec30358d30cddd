"""The demo DAG's dataset table and split figures, built by real Snakemake in a copy of the repo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from fhbench import grid
from fhbench.config import validate_config
from tests.conftest import copy_repo
from tests.workflow.test_dvc import environment, run


@pytest.mark.slow
def test_dataset_table_and_figures_from_demo_config(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    env = environment(repo)
    config = yaml.safe_load((repo / "config" / "demo.yaml").read_text())
    datasets = list(config["datasets"])
    checked = validate_config(yaml.safe_load((repo / "config" / "demo.yaml").read_text()))
    tables = grid.tables_dir(checked)
    figures = [f"{grid.figures_dir(checked)}/split_{d}_fhbench.{ext}" for d in datasets for ext in ("pdf", "png")]
    dry = run("snakemake -n all --configfile config/demo.yaml", repo, env)
    assert "dataset_table" in dry and "plot_split" in dry  # part of `all`
    run(f"snakemake {tables}/datasets.csv {' '.join(figures)} --cores 2 --configfile config/demo.yaml", repo, env)
    table = pd.read_csv(repo / tables / "datasets.csv")
    assert len(table) == len(grid.data_partitions(validate_config(config)))  # one row per described split
    table = table[table["partition"] == "fhbench"]
    assert table["dataset"].tolist() == datasets  # every dataset under the paper's split, in config order
    n_clients = config["partitions"]["fhbench"]["n_clients"]
    for row in table.itertuples():
        prepared = repo / grid.prepared_dir(checked, row.dataset)
        labels = np.load(prepared / "labels.npy")
        assert row.pooled_size == len(labels)
        assert row.clients == n_clients
        assert row.used_size == n_clients * (len(labels) // n_clients)  # fhbench: equal slices
        assert 0 <= row.single_class_clients <= n_clients
    for name in ("datasets.md", "datasets.tex"):
        text = (repo / tables / name).read_text()
        assert all(d in text for d in datasets)
    for f in figures:
        assert (repo / f).stat().st_size > 1000
    assert (repo / grid.logs_dir(checked) / "dataset_table" / "datasets.log").exists()
