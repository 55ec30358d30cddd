"""The VideoMAE volume backbone: a tiny random twin saved and loaded like real weights, LoRA on
its attention, volumes resampled into clips, and the published architecture's size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fhbench_organmnist3d.videomae import IMAGENET_MEAN, IMAGENET_STD, VideoMAEBackbone

from fhbench.models import LoraSpec, wrap_with_lora

TINY = {
    "image_size": 16,
    "patch_size": 4,
    "num_channels": 3,
    "num_frames": 8,
    "tubelet_size": 2,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    backbone = VideoMAEBackbone()
    folder = tmp_path_factory.mktemp("videomae_tiny")
    backbone.create_tiny(folder, TINY, seed=0)
    return backbone, wrap_with_lora(backbone.load(folder, n_classes=11), backbone, LoraSpec(rank=4, alpha=8))


def test_the_tiny_twin_loads_trains_lora_and_the_head_and_classifies_volumes(tiny):
    backbone, model = tiny
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert sum("lora_A" in n for n in trainable) == sum("lora_B" in n for n in trainable) == 2 * 2  # query, value per layer
    assert all(("query" in n or "value" in n) for n in trainable if "lora_" in n)
    assert any("classifier" in n for n in trainable) and not any("embeddings" in n for n in trainable)
    volumes = np.random.default_rng(0).integers(0, 256, size=(3, 12, 20, 20), dtype=np.uint8)  # any size: resampled
    batch = backbone.batch_inputs(model, torch.from_numpy(volumes), torch.device("cpu"))
    assert batch["pixel_values"].shape == (3, 8, 3, 16, 16)
    assert model(**batch).logits.shape == (3, 11)


def test_grey_values_fill_three_channels_with_imagenet_normalisation(tiny):
    backbone, model = tiny
    for grey in (0, 255):
        volume = torch.full((1, 8, 16, 16), grey, dtype=torch.uint8)  # the model's own size: no resampling
        pixels = backbone.batch_inputs(model, volume, torch.device("cpu"))["pixel_values"]
        expected = [(grey / 255 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
        assert torch.allclose(pixels[0, :, :, 0, 0], torch.tensor([expected] * 8))


def test_the_published_architecture_is_videomae_base():
    model = VideoMAEBackbone().build_meta(n_classes=11)
    total = sum(p.numel() for p in model.parameters())
    assert 86e6 < total < 88e6  # ViT-B with tubelet embedding: 87 M in the VideoMAE paper
    targets = [m for n, m in model.named_modules() if n.endswith(("attention.query", "attention.value"))]
    assert len(targets) == 24 and all((m.in_features, m.out_features) == (768, 768) for m in targets)
    assert model.classifier.out_features == 11
