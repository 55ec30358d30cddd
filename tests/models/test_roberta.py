"""RoBERTa-base text backbone: LoRA layout, tiny twin with its tokenizer, padding, federation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fhbench.models import LoraSpec, get_backbone, wrap_with_lora
from tests.models.conftest import check_federated_metrics, federate, lora_counts

TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 66,
    "vocab_size": 300,
}
TEXTS = np.array(
    [
        "methods: patients were randomly assigned to treatment",
        "results",
        "conclusions: screening reduced mortality in adults with chronic disease and was well tolerated",
        "objective: to assess the effect",
    ],
    dtype=object,
)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "roberta_tiny"
    get_backbone("roberta").create_tiny(out, TINY, seed=0)
    return out


def test_real_roberta_base_lora_and_head_counts_match_protocol():
    backbone = get_backbone("roberta")
    model = wrap_with_lora(backbone.build_meta(5), backbone, LoraSpec(8, 16, 0.01))
    assert lora_counts(model) == (147_456, 147_456)  # docs/protocol.md §3: 294,912
    head = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n)
    assert head == 594_437


def test_tiny_twin_and_tokenizer_load_like_real_files(tiny_dir):
    from transformers import AutoTokenizer, RobertaForSequenceClassification

    backbone = get_backbone("roberta")
    loaded = backbone.load(tiny_dir, n_classes=5)
    direct = RobertaForSequenceClassification.from_pretrained(tiny_dir)
    name = "roberta.encoder.layer.1.attention.self.query.weight"
    assert torch.equal(loaded.state_dict()[name], direct.state_dict()[name])
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    ids = tokenizer("results")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id == 0 and ids[-1] == tokenizer.eos_token_id == 2
    assert tokenizer.pad_token_id == loaded.config.pad_token_id == 1


def test_encode_pads_to_longest_and_truncates_to_the_model_limit(tiny_dir):
    backbone = get_backbone("roberta")
    long_text = np.array([" ".join(["treatment"] * 200), "results"], dtype=object)
    ids = backbone.encode(tiny_dir, long_text)
    assert ids.dtype == torch.long and ids.shape == (2, 64)  # 66 positions - 2 reserved by RoBERTa
    assert ids[1].ne(1).sum() < 64 and ids[1, -1] == 1  # the short text is right-padded
    # A fixed-width unicode array (memory-mappable prepared text) tokenises identically.
    assert torch.equal(backbone.encode(tiny_dir, long_text.astype(str)), ids)


def test_batches_trimmed_to_longest_give_the_logits_of_padding_to_512(tmp_path):
    from transformers import AutoTokenizer

    backbone = get_backbone("roberta")
    model_dir = tmp_path / "roberta_514"  # roberta-base's 514 positions: 512 tokens
    backbone.create_tiny(model_dir, {**TINY, "max_position_embeddings": 514}, seed=1)
    torch.manual_seed(0)
    model = wrap_with_lora(backbone.load(model_dir, n_classes=3), backbone, LoraSpec(8, 16, 0.0)).eval()
    ids = backbone.encode(model_dir, TEXTS)
    batch = backbone.batch_inputs(model, ids[:2], "cpu")
    assert batch["input_ids"].shape[1] == int(ids[:2].ne(1).sum(1).max()) < ids.shape[1]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    full = tokenizer(list(TEXTS[:2]), padding="max_length", max_length=512, truncation=True, return_tensors="pt")
    assert full["input_ids"].shape == (2, 512)
    with torch.no_grad():
        trimmed = model(**batch).logits
        padded = model(input_ids=full["input_ids"], attention_mask=full["attention_mask"]).logits
        unmasked = model(input_ids=full["input_ids"]).logits
    assert torch.allclose(trimmed, padded, atol=1e-5)
    assert not torch.allclose(unmasked, padded, atol=1e-4)  # the comparison can fail


@pytest.mark.slow
def test_two_federated_rounds_on_text(tmp_path, tiny_dir):
    labels = np.repeat(np.arange(3), 12)
    words = np.array(["treatment", "placebo", "mortality"])
    texts = np.array([f"{words[y]} group {i} " * (1 + i % 3) for i, y in enumerate(labels)])  # '<U' is memory-mappable
    check_federated_metrics(federate(tmp_path, "roberta", tiny_dir, texts, labels))
