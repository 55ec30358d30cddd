"""VideoMAE (Tong et al., "VideoMAE: Masked Autoencoders are Data-Efficient Learners for
Self-Supervised Video Pre-Training", NeurIPS 2022) as a backbone for 3-D volumes.

A video is frames × height × width; a CT volume is slices × height × width. VideoMAE cuts its
input into tubelets (2 frames × 16 × 16 pixels) and runs a ViT-B over them, so it reads a
volume as it reads a clip: the depth axis takes the place of time. Volumes are resampled to the
model's ``num_frames`` slices of ``image_size`` pixels and the grey value fills all three
channels, as fhbench's ViT does for grey CT slices. Published weights:
``MCG-NJU/videomae-base-finetuned-kinetics`` (16 frames of 224 px).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from fhbench.models.base import Backbone, load_classifier
from fhbench.models.vit import IMAGENET_MEAN, IMAGENET_STD  # VideoMAE's image processor normalises as ViT's

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "VideoMAEBackbone", "real_config"]


def real_config(n_classes: int = 2):
    """The configuration of ``MCG-NJU/videomae-base-finetuned-kinetics``, for counts without weights."""
    from transformers import VideoMAEConfig

    return VideoMAEConfig(
        image_size=224,
        patch_size=16,
        num_channels=3,
        num_frames=16,
        tubelet_size=2,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        num_labels=n_classes,
    )


class VideoMAEBackbone(Backbone):
    architecture = "videomae"
    modality = "volume"
    lora_targets = ("query", "value")  # VideoMAE's attention projections
    head_modules = ("classifier",)
    reference_classes = 11  # OrganMNIST3D's organs

    def create_tiny(self, out_dir: str | Path, config: dict, seed: int = 0) -> None:
        from transformers import VideoMAEConfig, VideoMAEForVideoClassification

        torch.manual_seed(seed)
        VideoMAEForVideoClassification(VideoMAEConfig(**config)).save_pretrained(out_dir)

    def load(self, model_dir: str | Path, n_classes: int):
        from transformers import VideoMAEForVideoClassification

        return load_classifier(VideoMAEForVideoClassification, model_dir, n_classes)

    def build_meta(self, n_classes: int):
        from transformers import VideoMAEForVideoClassification

        with torch.device("meta"):
            return VideoMAEForVideoClassification(real_config(n_classes))

    def batch_inputs(self, model, inputs, device) -> dict:
        """uint8 volumes (B, D, H, W) → normalised clips (B, num_frames, 3, S, S), resampled on the device."""
        x = torch.as_tensor(inputs).to(device, non_blocking=True).float().unsqueeze(1)  # (B, 1, D, H, W)
        frames, size = model.config.num_frames, model.config.image_size
        if tuple(x.shape[2:]) != (frames, size, size):
            x = F.interpolate(x, size=(frames, size, size), mode="trilinear", align_corners=False)
        x = x.squeeze(1).unsqueeze(2)  # (B, T, 1, S, S): one grey channel per slice
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 1, 3, 1, 1)
        return {"pixel_values": (x / 255.0 - mean) / std}
