"""Backbone registry: architecture name → backbone module."""

from __future__ import annotations

from fhbench.models.base import Backbone, LoraSpec, require_model_dir, wrap_with_lora
from fhbench.registry import LazyRegistry

# Imported on first use: each backbone module imports torch and transformers. Installed
# distributions add theirs under the entry-point group fhbench.backbones (docs/extending.md).
BACKBONES: LazyRegistry = LazyRegistry(
    {
        "vit": "fhbench.models.vit:ViTBackbone",
        "wav2vec2": "fhbench.models.wav2vec2:Wav2Vec2Backbone",
        "roberta": "fhbench.models.roberta:RobertaBackbone",
        "moment": "fhbench.models.moment:MomentBackbone",
    },
    instantiate=True,
    group="fhbench.backbones",
    base="fhbench.models.base:Backbone",
    name_attribute="architecture",
)


def get_backbone(architecture: str) -> Backbone:
    try:
        return BACKBONES[architecture]
    except KeyError:
        raise KeyError(f"unknown backbone architecture {architecture!r}; registered: {sorted(BACKBONES)}") from None


def write_model(architecture: str, out_dir: str, hf_id: str | None, tiny: dict | None = None) -> None:
    """The ``fetch_model`` rule's work by name (what :func:`fhbench.worker.call` can run): the
    pretrained weights of ``hf_id``, or a tiny random twin built from ``tiny``, saved in ``out_dir``."""
    get_backbone(architecture).write_model(out_dir, hf_id, tiny)


__all__ = ["BACKBONES", "Backbone", "LoraSpec", "get_backbone", "require_model_dir", "wrap_with_lora", "write_model"]
