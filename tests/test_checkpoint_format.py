"""A checkpoint's row tables survive the packing, and checkpoints written before it still read."""

from __future__ import annotations

import pytest
import torch

from fhbench.checkpoint_format import TABLES, checkpoint_tables, pack_tables

TABLES_OF_A_RUN = {
    "rows": [(1, 0, "val", "accuracy", 0.5), (2, 3, "test", "macro_f1", float("nan"))],
    "server_rows": [(2, "mixing", 0, 1, 0.25)],
    "asymmetry_rows": [],
    "diagnostics": {"rows": [(1, 0, "lora_A", 0.01)], "b_scale": {0: 2.0}},
}


def test_packed_tables_round_trip_through_torch_save(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"round": 2, TABLES: pack_tables(TABLES_OF_A_RUN)}, path)
    loaded = checkpoint_tables(torch.load(path, weights_only=False))
    assert loaded.keys() == TABLES_OF_A_RUN.keys()
    assert loaded["rows"][0] == (1, 0, "val", "accuracy", 0.5)
    assert loaded["rows"][1][4] != loaded["rows"][1][4]  # NaN kept
    assert loaded["server_rows"] == TABLES_OF_A_RUN["server_rows"]
    assert loaded["diagnostics"] == TABLES_OF_A_RUN["diagnostics"]


def test_a_checkpoint_from_before_the_packing_is_read_from_its_keys():
    old = {"round": 3, "clients": [], "server": {}, "rows": [(1, 0, "val", "loss", 0.7)], "server_rows": []}
    assert checkpoint_tables(old) == {"rows": [(1, 0, "val", "loss", 0.7)], "server_rows": []}


def test_an_unknown_table_is_refused_naming_it():
    with pytest.raises(ValueError, match="metrics"):
        pack_tables({"rows": [], "metrics": []})
