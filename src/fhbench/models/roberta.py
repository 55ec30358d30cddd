"""RoBERTa-base text backbone (``FacebookAI/roberta-base``) for Medical Abstracts and PubMed RCT.

Input: the prepared texts (a numpy array of str), tokenised once per run with the tokenizer
saved beside the weights, truncated to 512 tokens (docs/protocol.md §1). Batches are trimmed to their
longest sequence with an attention mask, which gives the same logits as padding to 512 at a
fraction of the cost. LoRA on ``query``/``value``; the classification head (dense + out_proj)
is trained.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from fhbench.models.base import Backbone, load_classifier, require_model_dir

MAX_LENGTH = 512

# A few sentences to train the tiny twin's byte-level BPE offline; any text would do.
TINY_CORPUS = (
    "background: randomised controlled trials compare a treatment with a control group.",
    "methods: patients with chronic disease were assigned to therapy or placebo.",
    "results: the primary outcome improved significantly in the treated group (p < 0.05).",
    "conclusions: the intervention reduced symptoms and was well tolerated.",
    "objective: to assess the effect of early screening on mortality in adults.",
    "neoplasms, digestive system diseases, nervous system diseases, cardiovascular diseases.",
)


def real_config(n_classes: int = 2):
    """The configuration of ``FacebookAI/roberta-base`` (its config.json), for weightless counts."""
    from transformers import RobertaConfig

    return RobertaConfig(
        vocab_size=50265,
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=n_classes,
    )


def save_tiny_tokenizer(out_dir: str | Path, vocab_size: int, max_length: int) -> None:
    """Train a byte-level BPE tokenizer offline and save it as a RoBERTa tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # roberta's ids 0..4
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(TINY_CORPUS), vocab_size=vocab_size, min_frequency=1, special_tokens=specials)
    # Handing RoBERTa's tokenizer class the vocabulary and merges lets it add its own
    # pre-tokenizer and post-processor (<s> … </s>), exactly as for the published files.
    model = json.loads(bpe._tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = RobertaTokenizerFast(vocab=model["vocab"], merges=merges, model_max_length=max_length)
    tokenizer.save_pretrained(out_dir)


class RobertaBackbone(Backbone):
    architecture = "roberta"
    modality = "text"
    lora_targets = ("query", "value")
    reference_classes = 5  # Medical Abstracts and PubMed RCT: the head size docs/protocol.md §3 counts with
    head_modules = ("classifier",)

    def create_tiny(self, out_dir: str | Path, config: dict, seed: int = 0) -> None:
        """Tiny RoBERTa plus a tokenizer trained offline; ``config`` may set ``vocab_size`` for both."""
        from transformers import RobertaConfig, RobertaForSequenceClassification

        config = {"type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "vocab_size": 300, **config}
        max_positions = config.get("max_position_embeddings", 514)
        torch.manual_seed(seed)
        model = RobertaForSequenceClassification(RobertaConfig(**config))
        model.save_pretrained(out_dir)
        # RoBERTa's positions start after the padding index, hence the two reserved positions.
        save_tiny_tokenizer(out_dir, config["vocab_size"], min(MAX_LENGTH, max_positions - 2))

    def load(self, model_dir: str | Path, n_classes: int):
        from transformers import RobertaForSequenceClassification

        return load_classifier(RobertaForSequenceClassification, model_dir, n_classes)

    def build_meta(self, n_classes: int):
        from transformers import RobertaForSequenceClassification

        with torch.device("meta"):
            return RobertaForSequenceClassification(real_config(n_classes))

    def max_length(self, model_dir: str | Path, tokenizer) -> int:
        positions = json.loads((Path(model_dir) / "config.json").read_text()).get("max_position_embeddings", MAX_LENGTH + 2)
        return min(MAX_LENGTH, int(tokenizer.model_max_length), positions - 2)

    def encode(self, model_dir: str | Path, inputs) -> torch.Tensor:
        """Tokenise every text once → (N, L) LongTensor padded to the longest text (L ≤ 512)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        # The engine encodes before it loads: fail here with the fetch command, not a hub error.
        require_model_dir(model_dir, Path(model_dir).name)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        texts = [str(t) for t in np.asarray(inputs, dtype=object).tolist()]
        encoded = tokenizer(
            texts, truncation=True, max_length=self.max_length(model_dir, tokenizer), padding="longest", return_tensors="pt"
        )
        return encoded["input_ids"]

    def batch_inputs(self, model, inputs, device) -> dict:
        """Trim a batch of padded token rows to its longest sequence and mask the padding."""
        ids = torch.as_tensor(inputs)
        mask = ids.ne(model.config.pad_token_id)
        longest = int(mask.sum(dim=1).max().item()) if len(ids) else 0
        # Right padding: every row's tokens sit in its first `length` columns.
        ids, mask = ids[:, : max(longest, 1)], mask[:, : max(longest, 1)]
        return {"input_ids": ids.to(device), "attention_mask": mask.long().to(device)}
