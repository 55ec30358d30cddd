"""ViT-B/16 image backbone: LoRA layout of the real model, tiny twin, federation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fhbench.models import LoraSpec, get_backbone, wrap_with_lora
from tests.models.conftest import check_federated_metrics, federate, lora_counts


def test_real_vit_b16_lora_and_head_counts_match_protocol():
    backbone = get_backbone("vit")
    model = wrap_with_lora(backbone.build_meta(11), backbone, LoraSpec(8, 16, 0.0))
    assert lora_counts(model) == (147_456, 147_456)  # docs/protocol.md §3: 294,912
    head = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n)
    assert head == 8_459
    assert model.config.image_size == 224 and model.config.patch_size == 16


def test_tiny_twin_loads_through_from_pretrained_with_its_weights(tiny_vit_dir):
    from transformers import ViTForImageClassification

    loaded = get_backbone("vit").load(tiny_vit_dir, n_classes=11)
    direct = ViTForImageClassification.from_pretrained(tiny_vit_dir)
    name = "vit.layers.0.attention.q_proj.weight"
    assert torch.equal(loaded.state_dict()[name], direct.state_dict()[name])
    assert loaded.classifier.out_features == 11


@pytest.mark.slow
def test_two_federated_rounds_on_images(tmp_path, tiny_vit_dir, rng):
    labels = np.repeat(np.arange(3), 12)
    images = np.clip(rng.normal(60 * (1 + labels)[:, None, None], 20, (36, 28, 28)), 0, 255).astype(np.uint8)
    check_federated_metrics(federate(tmp_path, "vit", tiny_vit_dir, images, labels))
