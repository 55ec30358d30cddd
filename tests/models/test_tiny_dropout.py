"""The demo's tiny twins train without dropout: the keys config/demo.yaml sets reach the loaded models.

The demo turns dropout off in its tiny backbones (config/demo.yaml, "backbones") because it cost a
large share of a training step's CPU at demo scale. These tests build each tiny twin from the demo
config exactly as the fetch_model rule does and check that no dropout is left in the loaded model
(the LoRA dropout, set under ``lora``, is added later by peft and is not part of the backbone), and
that the schema refuses a dropout that is not a probability, naming the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fhbench.config import load_config
from fhbench.config_values import check_tiny_options
from fhbench.errors import ConfigError
from fhbench.models import get_backbone

REPO = Path(__file__).resolve().parents[2]
DEMO = load_config(REPO / "config/demo.yaml")


def dropout_probabilities(model: torch.nn.Module) -> dict[str, float]:
    """Every dropout in the model: nn.Dropout modules and the float dropout attributes HF layers read."""
    found = {name: module.p for name, module in model.named_modules() if isinstance(module, torch.nn.Dropout)}
    for name, module in model.named_modules():
        for attr in ("dropout", "attention_dropout"):  # e.g. attention layers that pass a float to SDPA
            value = getattr(module, attr, None)
            if isinstance(value, float):
                found[f"{name}.{attr}"] = value
    return found


@pytest.mark.parametrize("backbone", sorted(DEMO["backbones"]))
def test_demo_tiny_twin_loads_without_dropout(tmp_path, backbone):
    entry = DEMO["backbones"][backbone]
    impl = get_backbone(entry["architecture"])
    model_dir = tmp_path / backbone
    impl.create_tiny(model_dir, entry["tiny"], seed=0)
    model = impl.load(model_dir, n_classes=3)
    found = dropout_probabilities(model)
    # ViT's Hugging Face defaults are already 0; every other twin has dropout modules to switch off.
    assert found or entry["architecture"] == "vit"
    assert {name: p for name, p in found.items() if p != 0.0} == {}


@pytest.mark.parametrize(
    ("architecture", "tiny", "key"),
    [
        ("roberta", {"hidden_dropout_prob": 1.0}, "hidden_dropout_prob"),
        ("wav2vec2", {"attention_dropout": -0.1}, "attention_dropout"),
        ("moment", {"t5_config": {"dropout_rate": 1.5}}, "t5_config.dropout_rate"),
        ("moment", {"head_dropout": "0.1"}, "head_dropout"),
    ],
)
def test_a_dropout_that_is_not_a_probability_is_refused_naming_the_key(architecture, tiny, key):
    with pytest.raises(ConfigError, match=f"backbones.x.tiny.{key}"):
        check_tiny_options(architecture, tiny, "backbones.x.tiny")
