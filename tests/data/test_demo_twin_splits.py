"""Every client of the demo's splits has training, validation and test rows (no silent gaps in
figures): the demo twins of config/demo.yaml are sized for it. The two smallest twins, PTB-XL and
SPRSound, are built here exactly as the workflow builds them."""

from __future__ import annotations

import json

import pytest

from fhbench import grid
from fhbench.config import load_config
from fhbench.data import acquire, get_dataset
from fhbench.partition import partition_prepared
from tests.conftest import REPO


@pytest.mark.parametrize("dataset", ["ptbxl", "sprsound"])
def test_demo_twin_gives_every_client_val_and_test_rows(dataset, tmp_path):
    config = load_config(REPO / "config" / "demo.yaml")
    spec = config["datasets"][dataset]
    raw, prepared, split = tmp_path / "raw", tmp_path / "prepared", tmp_path / "split.json"
    acquire(dataset, raw, source="demo", base_url=None, demo_options=spec["demo"], part_dir=tmp_path / "parts")
    get_dataset(dataset).prepare(raw, prepared, **spec["prepare"])
    partition_prepared(prepared, split, **grid.partition_params(config, dataset, "fhbench"))
    clients = json.loads(split.read_text())["clients"]
    empty = [(i, s) for i, c in enumerate(clients) for s in ("train", "val", "test") if not c[s]]
    assert len(clients) == 20 and empty == []
