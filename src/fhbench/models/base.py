"""The interface every backbone module implements, and the LoRA wrapping shared by all."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LoraSpec:
    """LoRA hyperparameters (docs/protocol.md §3)."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0


class Backbone(ABC):
    """A pretrained architecture: how to fetch it, build a tiny twin, load it, and feed it.

    ``lora_targets`` are module-name suffixes for peft (they differ per architecture and
    transformers version); ``head_modules`` are trained alongside LoRA and kept per client.
    """

    architecture: str
    modality: str
    lora_targets: tuple[str, ...]
    head_modules: tuple[str, ...]
    reference_classes: int  # classes of the docs/protocol.md dataset used to count this backbone's head
    # Files a run needs (config, weights, tokenizer); skips the TF/Flax/ONNX copies hub repos hold.
    fetch_patterns: tuple[str, ...] = ("*.json", "*.txt", "*.safetensors", "pytorch_model.bin")

    def fetch_pretrained(self, hf_id: str, out_dir: str | Path) -> None:
        """Download the published weights into ``out_dir`` (needs internet: a local rule)."""
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id=hf_id, local_dir=str(out_dir), allow_patterns=list(self.fetch_patterns))

    def write_model(self, out_dir: str | Path, hf_id: str | None = None, tiny: dict | None = None) -> Path:
        """Fill the model folder ``out_dir``: a tiny random twin (``tiny``) or the published weights.

        The folder is checked first (an existing file is refused: ``save_pretrained`` would only
        log an error and write nothing), a twin appears atomically, and a folder left without
        ``config.json`` is an error, never a success.
        """
        from fhbench.errors import DownloadError
        from fhbench.io import atomic_path
        from fhbench.validate import check_output_dir

        out_dir = check_output_dir(out_dir)
        if tiny:
            with atomic_path(out_dir) as tmp:
                self.create_tiny(tmp, tiny)
                if not (tmp / "config.json").is_file():
                    raise RuntimeError(f"{type(self).__name__}.create_tiny wrote no config.json")
        else:
            self.fetch_pretrained(hf_id, out_dir)
            if not (out_dir / "config.json").is_file():
                raise DownloadError(f"{out_dir}: the download of {hf_id} holds no config.json; check the hub id and fetch again")
        return out_dir

    @abstractmethod
    def create_tiny(self, out_dir: str | Path, config: dict, seed: int = 0) -> None:
        """Save a small randomly initialised model of the same class with ``save_pretrained``."""

    @abstractmethod
    def load(self, model_dir: str | Path, n_classes: int):
        """Load weights from a local folder with the hub switched off, with a fresh ``n_classes`` head."""

    @abstractmethod
    def build_meta(self, n_classes: int):
        """The real published architecture with an ``n_classes`` head on the meta device (no weights).

        Used to count parameters and communication without downloading anything.
        """

    def encode(self, model_dir: str | Path, inputs) -> "torch.Tensor":
        """Turn the prepared inputs a run uses into one tensor, once per run (text: tokenise).

        The engine indexes rows of the result to form batches, then calls :meth:`batch_inputs`.
        """
        import torch

        return torch.from_numpy(np.ascontiguousarray(inputs))

    @abstractmethod
    def batch_inputs(self, model, inputs: "torch.Tensor", device) -> dict:
        """Turn a batch of encoded rows into the model's keyword arguments, on ``device``."""

    def save_backbone(self, model, base_dir: str | Path, out_dir: str | Path) -> None:
        """Write ``model``'s weights without its classification head into ``out_dir`` in the
        format :meth:`load` reads (that of :meth:`fetch_pretrained` and :meth:`create_tiny`),
        with every other file of ``base_dir`` (tokenizer) beside them: how a demo backbone
        pretrained by :mod:`fhbench.pretrain` is stored. Like a hub checkpoint, the folder holds
        no head for the runs' classes, so every run starts its head fresh."""
        import shutil

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in Path(base_dir).iterdir():
            if (
                path.is_file()
                and not path.name.startswith(".")
                and not path.name.endswith((".safetensors", ".bin"))
                and path.name != "config.json"
            ):
                shutil.copy2(path, out_dir / path.name)
        head = tuple(self.head_modules)
        state = {k: v for k, v in model.state_dict().items() if not any(k == h or k.startswith(h + ".") for h in head)}
        model.save_pretrained(out_dir, state_dict=state)


def load_classifier(model_class, model_dir: str | Path, n_classes: int, head_modules: tuple[str, ...] = ("classifier",), **overrides):
    """``model_class.from_pretrained`` from a local folder only, with a fresh ``n_classes`` head.

    The hub stays off (compute nodes have no internet); the replaced head is expected, so
    transformers' warning about it is silenced. Anything else not loaded is an error
    (:func:`fhbench.validate.check_model_loading`): a folder of another architecture or size
    would otherwise train from random weights without a word.
    """
    import json
    import os

    from fhbench.errors import InputError
    from fhbench.validate import check_model_loading

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()  # one bar per load in every run log, and noise before an error line
    expected = model_class.config_class.model_type
    config_path = Path(model_dir) / "config.json"
    try:
        saved_type = json.loads(config_path.read_text()).get("model_type")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise InputError(
            config_path, f"is not a readable model config ({type(exc).__name__})", "fetch the model again (rule fetch_model)"
        ) from None
    if saved_type != expected:
        raise InputError(config_path, f"is a {saved_type!r} model, expected {expected!r}", "fetch the model again (rule fetch_model)")
    try:
        model, info = model_class.from_pretrained(
            str(model_dir), num_labels=n_classes, ignore_mismatched_sizes=True, local_files_only=True, output_loading_info=True, **overrides
        )
    except Exception as exc:  # noqa: BLE001 - truncated or foreign weight files (safetensors, torch and transformers each raise their own)
        raise InputError(
            model_dir, f"weights cannot be loaded ({' '.join(str(exc).split())[:160]})", "fetch the model again (rule fetch_model)"
        ) from None
    check_model_loading(model_dir, model, model.config, info, head_modules, expected)
    return model


def require_model_dir(model_dir: str | Path, backbone_key: str) -> Path:
    """Fail with the command that fills the folder when a model was never fetched."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise FileNotFoundError(
            f"no model in {model_dir}: fetch it first with `snakemake --cores 1 {model_dir}` "
            f"(rule fetch_model) or `fhbench fetch-model --backbone {backbone_key} --out {model_dir}` on a machine with internet"
        )
    return model_dir


def wrap_with_lora(model, backbone: Backbone, lora: LoraSpec):
    """Freeze the backbone, add LoRA on the backbone's targets, and keep the head trainable."""
    import warnings

    from peft import LoraConfig, get_peft_model

    # peft asks transformers a deprecated question on every wrap; the answer is still right.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(backbone.lora_targets),
        # Without this the freshly initialised head stays frozen (a bug of the published code).
        modules_to_save=list(backbone.head_modules),
    )
    return get_peft_model(model, config)
