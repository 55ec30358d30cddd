"""Backbone registry: architecture name → backbone module."""

from __future__ import annotations

from fhbench.models.base import Backbone, LoraSpec, require_model_dir, wrap_with_lora
from fhbench.models.moment import MomentBackbone
from fhbench.models.roberta import RobertaBackbone
from fhbench.models.vit import ViTBackbone
from fhbench.models.wav2vec2 import Wav2Vec2Backbone

BACKBONES: dict[str, Backbone] = {
    "vit": ViTBackbone(),
    "wav2vec2": Wav2Vec2Backbone(),
    "roberta": RobertaBackbone(),
    "moment": MomentBackbone(),
}


def get_backbone(architecture: str) -> Backbone:
    try:
        return BACKBONES[architecture]
    except KeyError:
        raise KeyError(f"unknown backbone architecture {architecture!r}; registered: {sorted(BACKBONES)}") from None


__all__ = ["BACKBONES", "Backbone", "LoraSpec", "get_backbone", "require_model_dir", "wrap_with_lora"]
