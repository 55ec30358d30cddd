"""ViT-B/16 image backbone (``google/vit-base-patch16-224``) for the MedMNIST CT datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fhbench.models.base import Backbone, load_classifier

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def real_config(n_classes: int = 2):
    """The configuration of ``google/vit-base-patch16-224`` (ViT-B/16 at 224 px), for weightless counts."""
    from transformers import ViTConfig

    return ViTConfig(
        image_size=224,
        patch_size=16,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        num_labels=n_classes,
    )


class ViTBackbone(Backbone):
    architecture = "vit"
    modality = "image"
    # transformers 5 names ViT's attention projections q_proj/k_proj/v_proj.
    lora_targets = ("q_proj", "v_proj")
    reference_classes = 11  # OrganA/C/SMNIST: the head size docs/protocol.md §3 counts with
    head_modules = ("classifier",)

    def create_tiny(self, out_dir: str | Path, config: dict, seed: int = 0) -> None:
        from transformers import ViTConfig, ViTForImageClassification

        torch.manual_seed(seed)
        model = ViTForImageClassification(ViTConfig(**config))
        model.save_pretrained(out_dir)

    def load(self, model_dir: str | Path, n_classes: int):
        from transformers import ViTForImageClassification

        return load_classifier(ViTForImageClassification, model_dir, n_classes)

    def build_meta(self, n_classes: int):
        from transformers import ViTForImageClassification

        with torch.device("meta"):
            return ViTForImageClassification(real_config(n_classes))

    def batch_inputs(self, model, inputs, device) -> dict:
        """uint8 grey (B,H,W) or colour (B,H,W,3) images → normalised (B,3,S,S), resized on the device.

        Grey images are resized as one channel and only then repeated to three (bilinear
        resizing acts per channel, so this equals resizing three copies at a third of the cost).
        """
        x = (inputs if torch.is_tensor(inputs) else torch.from_numpy(np.asarray(inputs))).to(device, non_blocking=True)
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
        x = x.float()
        size = model.config.image_size
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        scale, shift = self._normalisation(x.device)
        # (x/255 - mean)/std as one multiply-add; expands grey to three channels on the way.
        return {"pixel_values": torch.addcmul(shift, x, scale)}

    def _normalisation(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """ImageNet normalisation as (scale, shift), built once per device instead of per batch."""
        cache = self.__dict__.setdefault("_norm_cache", {})
        if device not in cache:
            mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
            cache[device] = (1.0 / (255.0 * std), -mean / std)
        return cache[device]
