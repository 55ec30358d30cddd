"""wav2vec 2.0 base audio backbone (``facebook/wav2vec2-base-960h``) for ICBHI and SPRSound.

Input: raw 16 kHz mono clips, one float32 row per sample (docs/protocol.md §3: 8 s = 128,000
samples), normalised per clip to zero mean and unit variance as the model's feature extractor
does. LoRA on the encoder's ``q_proj``/``v_proj``; the sequence-classification head
(``projector`` + ``classifier``) is trained.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fhbench.models.base import Backbone, load_classifier

# Wav2Vec2FeatureExtractor's zero_mean_unit_var_norm adds this to the variance.
FEATURE_EXTRACTOR_EPS = 1e-7


def real_config():
    """The configuration of ``facebook/wav2vec2-base-960h`` (its config.json), for weightless counts."""
    from transformers import Wav2Vec2Config

    # The defaults of Wav2Vec2Config are wav2vec2-base; the 960h fine-tune adds a 32-letter CTC
    # vocabulary, which the sequence-classification model does not use.
    return Wav2Vec2Config(vocab_size=32)


class Wav2Vec2Backbone(Backbone):
    architecture = "wav2vec2"
    modality = "audio"
    lora_targets = ("q_proj", "v_proj")
    reference_classes = 4  # ICBHI: the head size docs/protocol.md §3 counts with
    head_modules = ("projector", "classifier")

    def create_tiny(self, out_dir: str | Path, config: dict, seed: int = 0) -> None:
        from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

        torch.manual_seed(seed)
        model = Wav2Vec2ForSequenceClassification(Wav2Vec2Config(**config))
        model.save_pretrained(out_dir)

    def load(self, model_dir: str | Path, n_classes: int):
        from transformers import Wav2Vec2ForSequenceClassification

        # SpecAugment draws its masks from numpy's global RNG, which would make runs
        # unrepeatable; LayerDrop (torch RNG, seeded per client and round) stays on.
        return load_classifier(Wav2Vec2ForSequenceClassification, model_dir, n_classes, self.head_modules, apply_spec_augment=False)

    def build_meta(self, n_classes: int):
        from transformers import Wav2Vec2ForSequenceClassification

        config = real_config()
        config.num_labels = n_classes
        with torch.device("meta"):
            return Wav2Vec2ForSequenceClassification(config)

    def batch_inputs(self, model, inputs, device) -> dict:
        """(B, T) float waveforms → per-clip normalised ``input_values`` on ``device``.

        No attention mask: all clips have the same length, and models with group-norm feature
        encoders (wav2vec2-base) are meant to receive zero-padded input without one.
        """
        x = torch.as_tensor(inputs).to(device, dtype=torch.float32)
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return {"input_values": (x - mean) / torch.sqrt(var + FEATURE_EXTRACTOR_EPS)}
