"""Efficiency table: counts of the real architectures equal docs/protocol.md §3; what algorithms send."""

from __future__ import annotations

import pandas as pd
import pytest

from fhbench.reporting.efficiency import write_efficiency_table

CONFIG = {
    "backbones": {
        "vit_b16": {"architecture": "vit", "hf_id": "google/vit-base-patch16-224", "lora": {"rank": 8, "alpha": 16, "dropout": 0.0}},
        "roberta_tiny": {
            "architecture": "roberta",
            "hf_id": "FacebookAI/roberta-base",
            "tiny": {"hidden_size": 32},
            "lora": {"rank": 8, "alpha": 16, "dropout": 0.01},
        },
        "moment_small": {"architecture": "moment", "hf_id": "AutonLab/MOMENT-1-small", "lora": {"rank": 8, "alpha": 16, "dropout": 0.05}},
    },
    "datasets": {"organamnist": {"backbone": "vit_b16", "lr": 1e-3, "batch_size": 32}},
    "algorithms": {"fedavg": {}, "epfl": {"self_weight": 0.5, "layers": "all", "weights": "similarity", "share": "A"}},
}


@pytest.mark.slow
def test_efficiency_table_matches_protocol_counts(tmp_path):
    out = {ext: tmp_path / f"efficiency.{ext}" for ext in ("csv", "md", "tex")}
    write_efficiency_table(CONFIG, out["csv"], out["md"], out["tex"])
    table = pd.read_csv(out["csv"]).set_index(["backbone", "algorithm"])
    vit, roberta, moment = table.loc[("vit_b16", "fedavg")], table.loc[("roberta_tiny", "fedavg")], table.loc[("moment_small", "fedavg")]
    # docs/protocol.md §3 (r = 8, float32); the tiny twin is counted as the real roberta-base.
    assert (vit.lora_a_params, vit.lora_b_params, vit.head_params) == (147_456, 147_456, 8_459)
    assert (roberta.lora_a_params + roberta.lora_b_params, roberta.head_params) == (294_912, 594_437)
    assert (moment.lora_a_params, moment.lora_b_params) == (65_536, 49_152)
    assert 86_000_000 < vit.total_params < 86_500_000 and 124_000_000 < roberta.total_params < 125_500_000
    # FedAvg sends every trained tensor both ways.
    assert vit.upload_params == vit.download_params == vit.trained_params == 294_912 + 8_459
    assert vit.upload_bytes == 4 * vit.upload_params
    # EPFL uploads A and B (B for the distances), downloads the mixed A; head and B stay local.
    epfl = table.loc[("moment_small", "epfl")]
    assert (epfl.upload_params, epfl.download_params, epfl.download_bytes) == (114_688, 65_536, 4 * 65_536)
    assert "294,912" in out["md"].read_text() or "303,371" in out["md"].read_text()
    assert out["tex"].read_text().count(r"\\") == 1 + len(table)
