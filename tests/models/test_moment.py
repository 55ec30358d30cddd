"""MOMENT-1-small without momentfm: LoRA layout, published checkpoint format, padding mask, federation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fhbench.models import LoraSpec, get_backbone, wrap_with_lora
from fhbench.models.moment import MOMENT_SMALL_CONFIG, MomentClassifier, load_moment, save_moment
from tests.models.conftest import check_federated_metrics, federate, lora_counts

TINY = {"t5_config": {"d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 4, "num_layers": 2, "vocab_size": 8}}


def tiny_config() -> dict:
    return {**MOMENT_SMALL_CONFIG, "t5_config": {**MOMENT_SMALL_CONFIG["t5_config"], **TINY["t5_config"]}}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "moment_tiny"
    get_backbone("moment").create_tiny(out, TINY, seed=0)
    return out


def test_real_moment_small_lora_counts_match_protocol():
    backbone = get_backbone("moment")
    model = wrap_with_lora(backbone.build_meta(5), backbone, LoraSpec(8, 16, 0.05))
    assert lora_counts(model) == (65_536, 49_152)  # docs/protocol.md §3: 114,688
    lora_modules = {n.rsplit(".lora_A", 1)[0] for n, _ in model.named_parameters() if "lora_A" in n}
    assert len(lora_modules) == 16 and all(n.endswith(("SelfAttention.q", "SelfAttention.v")) for n in lora_modules)
    assert all(p.requires_grad for n, p in model.named_parameters() if "head.modules_to_save" in n)


def test_checkpoint_in_moment_format_reproduces_the_in_memory_model(tmp_path):
    torch.manual_seed(1)
    original = MomentClassifier(tiny_config(), n_classes=3).eval()
    with torch.no_grad():  # non-default values everywhere, so that a skipped tensor shows
        for p in original.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_moment(original, tmp_path / "moment")
    from safetensors.torch import load_file

    keys = set(load_file(str(tmp_path / "moment" / "model.safetensors")))
    # The published names: MOMENT's patch embedding, a T5 encoder stack, the reconstruction head.
    assert {
        "patch_embedding.value_embedding.weight",
        "patch_embedding.mask_embedding",
        "patch_embedding.position_embedding.pe",
        "encoder.embed_tokens.weight",
        "encoder.block.0.layer.0.SelfAttention.q.weight",
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
        "encoder.block.1.layer.1.DenseReluDense.wi_0.weight",
        "encoder.final_layer_norm.weight",
        "head.linear.weight",
        "head.linear.bias",
    } <= keys
    assert json.loads((tmp_path / "moment" / "config.json").read_text())["patch_len"] == 8

    loaded = get_backbone("moment").load(tmp_path / "moment", n_classes=3).eval()
    loaded.head.load_state_dict(original.head.state_dict())  # the head is new in every run
    x = torch.randn(4, 2, 512, generator=torch.Generator().manual_seed(2))
    mask = torch.ones(4, 512)
    mask[:, :200] = 0
    with torch.no_grad():
        expected, got = original(x_enc=x, input_mask=mask), loaded(x_enc=x, input_mask=mask)
    assert torch.allclose(got.embeddings, expected.embeddings, atol=1e-6)
    assert torch.allclose(got.logits, expected.logits, atol=1e-6)


def test_a_checkpoint_without_the_unused_token_embedding_still_loads(tmp_path):
    from safetensors.torch import load_file, save_file

    original = MomentClassifier(tiny_config(), n_classes=2).eval()
    save_moment(original, tmp_path / "moment")
    path = tmp_path / "moment" / "model.safetensors"
    state = load_file(str(path))
    del state["encoder.embed_tokens.weight"]
    save_file(state, str(path))
    loaded = load_moment(tmp_path / "moment", 2)
    name = "encoder.block.1.layer.0.SelfAttention.v.weight"
    assert torch.equal(loaded.state_dict()[name], original.state_dict()[name])


def test_a_checkpoint_that_does_not_match_is_refused(tmp_path):
    original = MomentClassifier(tiny_config(), n_classes=2)
    save_moment(original, tmp_path / "moment")
    config = json.loads((tmp_path / "moment" / "config.json").read_text())
    config["t5_config"]["num_layers"] = 3
    (tmp_path / "moment" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="missing .*encoder.block.2"):
        load_moment(tmp_path / "moment", 2)


def test_encode_left_pads_to_512_and_masks_the_padding(tiny_dir):
    backbone = get_backbone("moment")
    series = np.random.default_rng(0).standard_normal((3, 2, 250)).astype(np.float32)
    encoded = backbone.encode(tiny_dir, series)
    assert encoded.shape == (3, 3, 512)
    model = backbone.load(tiny_dir, n_classes=2)
    batch = backbone.batch_inputs(model, encoded[:2], "cpu")
    assert batch["x_enc"].shape == (2, 2, 512) and batch["input_mask"].shape == (2, 512)
    assert torch.equal(batch["x_enc"][..., -250:], torch.from_numpy(series[:2]))
    assert batch["x_enc"][..., :262].abs().sum() == 0
    assert batch["input_mask"][:, :262].sum() == 0 and batch["input_mask"][:, 262:].all()


def test_padding_content_does_not_change_the_output(tiny_dir):
    """Masked steps are ignored: RevIN statistics, mask tokens and attention skip them."""
    backbone = get_backbone("moment")
    model = backbone.load(tiny_dir, n_classes=2).eval()
    encoded = backbone.encode(tiny_dir, np.random.default_rng(1).standard_normal((2, 3, 256)).astype(np.float32))
    batch = backbone.batch_inputs(model, encoded, "cpu")
    noisy = dict(batch, x_enc=batch["x_enc"].clone())
    noisy["x_enc"][..., :256] = 100.0 * torch.randn(2, 3, 256)
    with torch.no_grad():
        clean, dirty = model(**batch), model(**noisy)
    assert torch.allclose(clean.logits, dirty.logits, atol=1e-5)
    unmasked = dict(noisy, input_mask=torch.ones(2, 512))
    with torch.no_grad():
        assert not torch.allclose(model(**unmasked).logits, clean.logits, atol=1e-3)


@pytest.mark.slow
def test_two_federated_rounds_on_time_series(tmp_path, tiny_dir, rng):
    labels = np.repeat(np.arange(3), 12)
    t = np.linspace(0, 1, 100, dtype=np.float32)
    series = np.sin(2 * np.pi * (1 + labels)[:, None, None] * t) + 0.1 * rng.standard_normal((36, 2, 100))
    check_federated_metrics(
        federate(tmp_path, "moment", tiny_dir, series.astype(np.float32), labels, lora={"rank": 8, "alpha": 16, "dropout": 0.05})
    )
