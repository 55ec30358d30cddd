"""Every registered backbone: LoRA A/B listed in model order, config entries, offline loading."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from fhbench.models import BACKBONES, LoraSpec
from fhbench.reporting.efficiency import trainable_layout

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("architecture", sorted(BACKBONES.builtin))
def test_lora_a_and_b_are_listed_in_model_order_and_pair_up(architecture):
    """EPFL's layer selection (first/second half) relies on this order."""
    layout = trainable_layout(architecture, BACKBONES[architecture].reference_classes, LoraSpec(8, 16, 0.0))
    assert len(layout.lora_a) == len(layout.lora_b) > 0
    assert [a.replace("lora_A", "lora_B") for a in layout.lora_a] == list(layout.lora_b)
    blocks = [int(re.search(r"\.(?:layer|layers|block)\.(\d+)\.", n).group(1)) for n in layout.lora_a]
    assert blocks == sorted(blocks) and len(set(blocks)) == len(blocks) // 2  # two targets per block
    assert layout.head and all(any(h in n for h in BACKBONES[architecture].head_modules) for n in layout.head)


@pytest.mark.parametrize("config_file", ["config/config.yaml", "config/demo.yaml"])
def test_every_architecture_has_a_backbone_entry(config_file):
    config = yaml.safe_load((REPO / config_file).read_text())
    assert {b["architecture"] for b in config["backbones"].values()} == set(BACKBONES)
    expected_dropout = {"vit": 0.0, "wav2vec2": 0.01, "roberta": 0.01, "moment": 0.05}  # docs/protocol.md §3
    # The demo's one departure (commented in demo.yaml): a stronger LoRA scale (alpha/rank = 8) on every
    # tiny backbone, so that the adapters move within the demo's 8 rounds (fhbench.diagnostics).
    demo = config_file == "config/demo.yaml"
    demo_departures = {name: {"alpha": 64} for name in config["backbones"]} if demo else {}
    for name, entry in config["backbones"].items():
        protocol = {"rank": 8, "alpha": 16, "dropout": expected_dropout[entry["architecture"]]}
        assert entry["lora"] == protocol | demo_departures.get(name, {}), name
        assert ("tiny" in entry) == (config_file == "config/demo.yaml"), name


@pytest.mark.parametrize("architecture", sorted(BACKBONES.builtin))
def test_training_without_fetched_weights_names_the_rule_that_fills_the_folder(tmp_path, architecture):
    from tests.models.conftest import federate

    labels = np.repeat(np.arange(2), 6)
    inputs = {
        "image": np.zeros((12, 8, 8), np.uint8),
        "audio": np.zeros((12, 400), np.float32),
        "text": np.array(["a b"] * 12),
        "timeseries": np.zeros((12, 2, 16), np.float32),
    }
    missing = tmp_path / "resources" / "models" / f"{architecture}_x"
    missing.mkdir(parents=True)  # an empty folder (e.g. an interrupted copy) counts as missing
    with pytest.raises(FileNotFoundError, match=rf"rule fetch_model.*fetch-model --backbone {architecture}_x"):
        federate(tmp_path, architecture, missing, inputs[BACKBONES[architecture].modality], labels)


def test_fetch_model_command_writes_a_config_entry_twin_that_loads(tmp_path):
    from fhbench.cli import main
    from fhbench.models import get_backbone

    out = tmp_path / "moment_tiny"
    assert main(["fetch-model", "--backbone", "moment_tiny", "--config", str(REPO / "config/demo.yaml"), "--out", str(out)]) == 0
    assert get_backbone("moment").load(out, n_classes=3).head.linear.out_features == 3
    assert main(["fetch-model", "--backbone", "no_such", "--config", str(REPO / "config/demo.yaml"), "--out", str(out)]) == 2
