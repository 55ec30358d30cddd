"""MOMENT-1-small time-series backbone (``AutonLab/MOMENT-1-small``), without the momentfm package.

momentfm pins transformers 4.33 and numpy 1.25, so this module rebuilds MOMENT (Goswami et
al., ICML 2024) from its parts: reversible instance normalisation (RevIN) over the observed
steps, patches of 8 steps over 512 steps, a linear patch embedding with a learned mask token
and sinusoidal positions, transformers' T5 encoder (flan-t5-small size), and a classification
head. It reads the published checkpoint as it is: ``config.json`` in MOMENT's own format (a
``t5_config`` block plus patching settings) and ``model.safetensors`` (or
``pytorch_model.bin``) with MOMENT's parameter names (``patch_embedding.*``, ``encoder.*`` as
in a T5 encoder stack, ``head.*`` of the reconstruction head, which is dropped here).

Input: prepared (N, C, T) float32 windows, left-padded with zeros to 512 steps, with an input
mask that marks the padding (docs/protocol.md §1). Each channel is encoded independently. The head
averages the encoder outputs over channels and patches and applies dropout and a linear layer
(MOMENT's ``reduction="mean"`` classification head); it does not depend on the channel count,
so one saved model serves 12-lead ECG and 19-channel EEG. LoRA on ``q``/``v`` of every encoder
self-attention block; the head is trained.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fhbench.models.base import Backbone, require_model_dir

SEQ_LEN = 512
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
UNUSED_TOKEN_EMBEDDING = "encoder.embed_tokens.weight"

# config.json of AutonLab/MOMENT-1-small (its t5_config is flan-t5-small's).
MOMENT_SMALL_CONFIG = {
    "task_name": "reconstruction",
    "model_name": "MOMENT",
    "transformer_type": "encoder_only",
    "d_model": None,
    "seq_len": 512,
    "patch_len": 8,
    "patch_stride_len": 8,
    "transformer_backbone": "google/flan-t5-small",
    "model_kwargs": {},
    "t5_config": {
        "d_ff": 1024,
        "d_kv": 64,
        "d_model": 512,
        "dropout_rate": 0.1,
        "feed_forward_proj": "gated-gelu",
        "layer_norm_epsilon": 1e-06,
        "num_heads": 6,
        "num_layers": 8,
        "relative_attention_max_distance": 128,
        "relative_attention_num_buckets": 32,
        "vocab_size": 32128,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    },
}


@dataclass
class MomentOutput:
    """What the engine reads from any backbone: ``.logits`` (B, n_classes)."""

    logits: torch.Tensor
    embeddings: torch.Tensor | None = None


class RevIN(nn.Module):
    """Reversible instance normalisation: per sample and channel, over the observed steps only."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        observed = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T), 1 = observed step
        count = observed.sum(-1, keepdim=True).clamp_min(1.0)
        mean = (x * observed).sum(-1, keepdim=True) / count
        var = (((x - mean) * observed) ** 2).sum(-1, keepdim=True) / count
        return (x - mean) / torch.sqrt(var + self.eps)


class PatchEmbedding(nn.Module):
    """Non-overlapping patches → d_model vectors; patches holding padding become the mask token."""

    def __init__(self, d_model: int, patch_len: int, max_len: int = 5000):
        super().__init__()
        self.patch_len = patch_len
        self.value_embedding = nn.Linear(patch_len, d_model, bias=False)
        self.mask_embedding = nn.Parameter(torch.zeros(d_model))
        self.position_embedding = SinusoidalPositions(d_model, max_len)

    def forward(self, x: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
        patches = x.unfold(-1, self.patch_len, self.patch_len)  # (B, C, P, patch_len)
        keep = patch_mask[:, None, :, None].to(x.dtype)  # (B, 1, P, 1)
        emb = keep * self.value_embedding(patches) + (1 - keep) * self.mask_embedding
        return emb + self.position_embedding(emb.shape[2])


class SinusoidalPositions(nn.Module):
    """Fixed sine/cosine positions; a persistent buffer because the checkpoint stores it (``pe``)."""

    def __init__(self, d_model: int, max_len: int = 5000):
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, n: int) -> torch.Tensor:
        return self.pe[:, :n]


class ClassificationHead(nn.Module):
    def __init__(self, d_model: int, n_classes: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(d_model, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Mean over patches, padded ones included, as MOMENT's own classification head does.
        return self.linear(self.dropout(x.mean(dim=1)))


class MomentClassifier(nn.Module):
    """MOMENT encoder + classification head; parameter names match the published checkpoint."""

    def __init__(self, moment_config: dict, n_classes: int):
        super().__init__()
        from transformers import T5Config, T5EncoderModel

        self.moment_config = dict(moment_config)
        t5 = dict(moment_config["t5_config"])
        t5.update(is_encoder_decoder=False, use_cache=False)
        for key in ("architectures", "model_type", "num_decoder_layers", "output_past"):
            t5.pop(key, None)
        self.t5_config = T5Config(**t5)
        d_model = moment_config.get("d_model") or self.t5_config.d_model
        self.seq_len = int(moment_config.get("seq_len", SEQ_LEN))
        self.patch_len = int(moment_config.get("patch_len", 8))
        if int(moment_config.get("patch_stride_len", self.patch_len)) != self.patch_len:
            raise ValueError("MOMENT config: patch_stride_len must equal patch_len (non-overlapping patches)")
        if self.seq_len % self.patch_len:
            raise ValueError(f"MOMENT config: seq_len {self.seq_len} is not a multiple of patch_len {self.patch_len}")
        self.d_model = d_model
        self.normalizer = RevIN()
        self.patch_embedding = PatchEmbedding(d_model, self.patch_len)
        self.patch_dropout = nn.Dropout(moment_config.get("patch_dropout", 0.1))
        # The T5 encoder stack, as momentfm takes it: T5EncoderModel(config).get_encoder().
        self.encoder = T5EncoderModel(self.t5_config).get_encoder()
        self.head = ClassificationHead(d_model, n_classes, moment_config.get("head_dropout", 0.1))
        # peft and the engine read model.config (e.g. for tied-weight checks); expose T5's.
        self.config = self.t5_config

    def forward(self, x_enc: torch.Tensor, input_mask: torch.Tensor | None = None) -> MomentOutput:
        batch, channels, steps = x_enc.shape
        if steps != self.seq_len:
            raise ValueError(f"MOMENT expects {self.seq_len} steps, got {steps}; pad with MomentBackbone.batch_inputs")
        if input_mask is None:
            input_mask = torch.ones(batch, steps, device=x_enc.device)
        x = torch.nan_to_num(self.normalizer(x_enc, input_mask), nan=0.0, posinf=0.0, neginf=0.0)
        # A patch counts as observed only when all its steps are (MOMENT's patch view of the mask).
        patch_mask = input_mask.unfold(-1, self.patch_len, self.patch_len).min(dim=-1).values
        emb = self.patch_dropout(self.patch_embedding(x, patch_mask))  # (B, C, P, d)
        n_patches = emb.shape[2]
        hidden = self.encoder(
            inputs_embeds=emb.reshape(batch * channels, n_patches, self.d_model),
            attention_mask=patch_mask.repeat_interleave(channels, dim=0).long(),
        ).last_hidden_state
        hidden = hidden.reshape(batch, channels, n_patches, self.d_model).mean(dim=1)  # over channels
        return MomentOutput(logits=self.head(hidden), embeddings=hidden)


def read_checkpoint(model_dir: Path) -> dict[str, torch.Tensor]:
    for name in WEIGHT_FILES:
        path = model_dir / name
        if path.exists():
            if name.endswith(".safetensors"):
                from safetensors.torch import load_file

                return load_file(str(path))
            return torch.load(path, map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"{model_dir} holds no MOMENT weights (expected one of {', '.join(WEIGHT_FILES)})")


def load_moment(model_dir: str | Path, n_classes: int) -> MomentClassifier:
    """Build MOMENT from a folder in the published format and load its weights, head excluded.

    Every backbone tensor of the model must come from the checkpoint (a missing or misshapen
    one is an error naming it); the checkpoint's reconstruction head is not used.
    """
    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    model = MomentClassifier(config, n_classes)
    state = {k: v for k, v in read_checkpoint(model_dir).items() if not k.startswith("head.")}
    # The T5 stack's token embedding (encoder.embed_tokens) is never used on time series; the
    # published file carries it, but a copy saved without it loses nothing.
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    missing = sorted(set(expected) - set(state) - {UNUSED_TOKEN_EMBEDDING})
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{model_dir}: checkpoint does not match MOMENT (missing {missing[:5]}, unexpected {unexpected[:5]})")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise ValueError(f"{model_dir}: {key} has shape {tuple(value.shape)}, the model expects {tuple(expected[key].shape)}")
    model.load_state_dict(state, strict=False)
    from fhbench.validate import check_finite_weights

    check_finite_weights(model_dir, model)
    return model


def save_moment(model: MomentClassifier, out_dir: str | Path, seed: int = 0) -> None:
    """Write ``model`` in the published format: MOMENT config.json + safetensors with a reconstruction head."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    generator = torch.Generator().manual_seed(seed)
    # The pretraining head maps each patch embedding back to patch_len steps.
    state["head.linear.weight"] = torch.randn(model.patch_len, model.d_model, generator=generator) * 0.02
    state["head.linear.bias"] = torch.zeros(model.patch_len)
    save_file(state, str(out_dir / "model.safetensors"))
    (out_dir / "config.json").write_text(json.dumps(model.moment_config, indent=1) + "\n")


def left_pad(series: np.ndarray | torch.Tensor, seq_len: int = SEQ_LEN) -> torch.Tensor:
    """(N, C, T) → (N, C, seq_len): zeros on the left (T < seq_len) or the last seq_len steps kept."""
    x = torch.as_tensor(np.ascontiguousarray(series) if not torch.is_tensor(series) else series, dtype=torch.float32)
    steps = x.shape[-1]
    if steps >= seq_len:
        return x[..., steps - seq_len :].contiguous()
    return torch.nn.functional.pad(x, (seq_len - steps, 0))


class MomentBackbone(Backbone):
    architecture = "moment"
    modality = "timeseries"
    lora_targets = ("q", "v")
    reference_classes = 5  # PTB-XL: the head size docs/protocol.md §3 counts with
    head_modules = ("head",)

    def create_tiny(self, out_dir: str | Path, config: dict, seed: int = 0) -> None:
        """A tiny MOMENT written in the published format; ``config`` holds MOMENT keys (``t5_config`` …)."""
        full = {**MOMENT_SMALL_CONFIG, **config, "t5_config": {**MOMENT_SMALL_CONFIG["t5_config"], **config.get("t5_config", {})}}
        torch.manual_seed(seed)
        save_moment(MomentClassifier(full, n_classes=2), out_dir, seed)

    def load(self, model_dir: str | Path, n_classes: int) -> MomentClassifier:
        return load_moment(model_dir, n_classes)

    def save_backbone(self, model: MomentClassifier, base_dir: str | Path, out_dir: str | Path) -> None:
        """MOMENT's own format (:func:`save_moment`): the classification head is never saved."""
        save_moment(model, out_dir)

    def build_meta(self, n_classes: int) -> MomentClassifier:
        with torch.device("meta"):
            return MomentClassifier(MOMENT_SMALL_CONFIG, n_classes)

    def encode(self, model_dir: str | Path, inputs) -> torch.Tensor:
        """Left-pad every (C, T) window to the model's 512 steps once per run.

        Returns (N, C + 1, 512): the padded channels, then the input mask as one more channel
        (1 on observed steps, 0 on the padding), so that rows indexed into a batch carry
        their own mask.
        """
        # The engine encodes before it loads: fail here with the fetch command, not a bare IOError.
        config_path = require_model_dir(model_dir, Path(model_dir).name) / "config.json"
        seq_len = int(json.loads(config_path.read_text()).get("seq_len", SEQ_LEN))
        x = left_pad(inputs, seq_len)
        steps = min(int(np.shape(inputs)[-1]), seq_len)
        mask = torch.zeros(x.shape[0], 1, seq_len)
        mask[..., seq_len - steps :] = 1.0
        return torch.cat([x, mask], dim=1)

    def batch_inputs(self, model, inputs, device) -> dict:
        """Encoded rows → ``x_enc`` (B, C, 512) and ``input_mask`` (B, 512) on ``device``."""
        x = torch.as_tensor(inputs).to(device, dtype=torch.float32)
        return {"x_enc": x[:, :-1], "input_mask": x[:, -1]}
