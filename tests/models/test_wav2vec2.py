"""wav2vec2-base audio backbone: LoRA layout of the real model, tiny twin, normalisation, federation."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from fhbench.models import LoraSpec, get_backbone, wrap_with_lora
from fhbench.models.wav2vec2 import real_config
from tests.models.conftest import check_federated_metrics, federate, lora_counts

TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": [16, 16],
    "conv_stride": [5, 4],
    "conv_kernel": [10, 4],
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "classifier_proj_size": 16,
    "vocab_size": 32,
}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "wav2vec2_tiny"
    get_backbone("wav2vec2").create_tiny(out, TINY, seed=0)
    return out


def test_real_wav2vec2_base_lora_counts_match_protocol():
    backbone = get_backbone("wav2vec2")
    model = wrap_with_lora(backbone.build_meta(4), backbone, LoraSpec(8, 16, 0.01))
    assert lora_counts(model) == (147_456, 147_456)  # docs/protocol.md §3: 294,912 in all
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n}
    # The whole head is trained (the published audio code left it frozen): both of its layers,
    # weights and biases, and nothing else besides LoRA; wav2vec2-base's head for 4 classes has
    # 768·256 + 256 (projector) + 256·4 + 4 (classifier) = 197,892 parameters.
    head = sorted(re.sub(r"^.*\.(\w+)\.modules_to_save\.default\.(\w+)$", r"\1.\2", n) for n in trainable)
    assert head == ["classifier.bias", "classifier.weight", "projector.bias", "projector.weight"]
    assert sum(trainable.values()) == 768 * 256 + 256 + 256 * 4 + 4 == 197_892
    assert real_config().hidden_size == 768 and real_config().num_hidden_layers == 12


def test_tiny_twin_loads_through_from_pretrained_with_its_weights(tiny_dir):
    from transformers import Wav2Vec2ForSequenceClassification

    backbone = get_backbone("wav2vec2")
    loaded = backbone.load(tiny_dir, n_classes=4)
    direct = Wav2Vec2ForSequenceClassification.from_pretrained(tiny_dir)
    name = "wav2vec2.encoder.layers.0.attention.q_proj.weight"
    assert torch.equal(loaded.state_dict()[name], direct.state_dict()[name])
    assert loaded.classifier.out_features == 4
    assert loaded.config.apply_spec_augment is False  # numpy-global masks would break repeatability


def test_batch_inputs_normalise_each_clip(tiny_dir):
    backbone = get_backbone("wav2vec2")
    model = backbone.load(tiny_dir, n_classes=2)
    clips = torch.stack([torch.linspace(-1, 3, 800), 5.0 + 0.1 * torch.randn(800, generator=torch.Generator().manual_seed(0))])
    values = backbone.batch_inputs(model, clips, "cpu")["input_values"]
    assert torch.allclose(values.mean(dim=1), torch.zeros(2), atol=1e-5)
    assert torch.allclose(values.std(dim=1, unbiased=False), torch.ones(2), atol=1e-3)


@pytest.mark.slow
def test_two_federated_rounds_on_audio(tmp_path, tiny_dir, rng):
    labels = np.repeat(np.arange(3), 12)
    clips = (rng.standard_normal((36, 800)) * (1 + labels[:, None])).astype(np.float32)
    check_federated_metrics(federate(tmp_path, "wav2vec2", tiny_dir, clips, labels))


def test_batched_engine_trains_when_layerdrop_skips_every_layer(tmp_path, rng):
    """LayerDrop 1 skips every encoder layer in training, so the layers' LoRA tensors get no
    gradient. The sequential engine steps only tensors with a gradient; the batched engine must do
    the same (it used to fail with "expected Tensor ... but got NoneType") and, with no dropout
    left to draw, give the sequential engine's results."""
    model_dir = tmp_path / "wav2vec2_layerdrop"
    no_dropout = {k: 0.0 for k in ("hidden_dropout", "attention_dropout", "activation_dropout", "feat_proj_dropout")}
    get_backbone("wav2vec2").create_tiny(model_dir, {**TINY, **no_dropout, "layerdrop": 1.0}, seed=0)
    labels = np.repeat(np.arange(3), 12)
    clips = (rng.standard_normal((36, 800)) * (1 + labels[:, None])).astype(np.float32)
    runs = {
        e: federate(tmp_path / e, "wav2vec2", model_dir, clips, labels, algorithm="fedavg", engine=e) for e in ("sequential", "batched")
    }
    check_federated_metrics(runs["batched"])
    seq, bat = (runs[e].sort_values(["round", "client", "split", "metric", "eval_point"], na_position="first") for e in runs)
    assert len(seq) == len(bat)
    np.testing.assert_allclose(bat["value"].to_numpy(), seq["value"].to_numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_audio_runs_repeat_exactly_from_their_seed(tmp_path, tiny_dir, rng):
    """LayerDrop and LoRA dropout draw from seeded torch streams; SpecAugment (numpy global) is off."""
    labels = np.repeat(np.arange(2), 9)
    clips = rng.standard_normal((18, 800)).astype(np.float32)
    lora = {"rank": 4, "alpha": 8, "dropout": 0.01}
    first = federate(tmp_path / "a", "wav2vec2", tiny_dir, clips, labels, algorithm="fedavg", lora=lora)
    second = federate(tmp_path / "b", "wav2vec2", tiny_dir, clips, labels, algorithm="fedavg", lora=lora)
    assert first.equals(second)
