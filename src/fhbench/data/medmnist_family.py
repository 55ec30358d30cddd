"""Shared code of the MedMNIST v3 CT datasets (OrganA/C/SMNIST at 224 px).

Source: Zenodo record 10519652; URLs and MD5s come from ``medmnist.INFO``. The three datasets
differ only in their key, so each has a two-line module built on :class:`MedMNISTDataset`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fhbench.data.base import Dataset
from fhbench.data.download import RemoteFile
from fhbench.data.prepared import write_prepared

# PROTOCOL §1: the official splits are pooled in this order.
POOL_ORDER = ("train", "test", "val")
ORGAN_CLASSES = (
    "bladder",
    "femur-left",
    "femur-right",
    "heart",
    "kidney-left",
    "kidney-right",
    "liver",
    "lung-left",
    "lung-right",
    "pancreas",
    "spleen",
)


def medmnist_info(flag: str) -> dict:
    """MedMNIST's own table of URLs, checksums and labels.

    ``medmnist/info.py`` is loaded on its own: importing the package would import torch and
    its dataset classes, which we never use (they assert the official sample counts).
    """
    import importlib.util

    spec = importlib.util.find_spec("medmnist")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("medmnist is not installed (pip install --no-deps medmnist==3.0.2)")
    info_path = Path(next(iter(spec.submodule_search_locations))) / "info.py"
    module_spec = importlib.util.spec_from_file_location("_medmnist_info", info_path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.INFO[flag]


class MedMNISTDataset(Dataset):
    modality = "image"
    class_names = ORGAN_CLASSES
    size = 224

    def __init__(self, key: str):
        self.key = key

    @property
    def filename(self) -> str:
        return f"{self.key}_{self.size}.npz"

    def remote_files(self) -> list[RemoteFile]:
        info = medmnist_info(self.key)
        url = info[f"url_{self.size}"]
        return [RemoteFile(url=url, filename=self.filename, md5=info[f"MD5_{self.size}"])]

    def prepare(self, raw_dir: str | Path, out_dir: str | Path) -> None:
        path = Path(raw_dir) / self.filename
        try:
            archive = np.load(path)
            parts = [(s, archive[f"{s}_images"], archive[f"{s}_labels"].reshape(-1)) for s in POOL_ORDER]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path} is not a readable MedMNIST archive: {exc}") from exc
        images = np.concatenate([p[1] for p in parts]).astype(np.uint8)
        labels = np.concatenate([p[2] for p in parts]).astype(np.int64)
        metadata = pd.DataFrame({"source_split": np.concatenate([[s] * len(p[2]) for s, p in zip(POOL_ORDER, parts)])})
        info = {"dataset": self.key, "modality": self.modality, "n_classes": self.n_classes, "class_names": list(self.class_names)}
        write_prepared(out_dir, images, labels, metadata, info)

    def generate_demo(
        self, raw_dir: str | Path, seed: int = 0, image_size: int = 28, n_train: int = 400, n_val: int = 100, n_test: int = 200
    ) -> None:
        """Grey images whose class is a bright blob at a class-specific place, plus noise and jitter."""
        rng = np.random.default_rng(seed)
        k = self.n_classes
        angles = 2 * np.pi * np.arange(k) / k
        radius = image_size * 0.3
        centers = np.stack([image_size / 2 + radius * np.cos(angles), image_size / 2 + radius * np.sin(angles)], 1)
        yy, xx = np.mgrid[0:image_size, 0:image_size]
        arrays = {}
        for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
            labels = rng.integers(0, k, size=n)
            centre = centers[labels] + rng.normal(0, image_size * 0.04, size=(n, 2))
            width = image_size * (0.08 + 0.01 * (labels % 3))[:, None, None]
            blob = np.exp(-((yy[None] - centre[:, 0, None, None]) ** 2 + (xx[None] - centre[:, 1, None, None]) ** 2) / (2 * width**2))
            images = 40 + 180 * blob + rng.normal(0, 20, size=(n, image_size, image_size))
            arrays[f"{split}_images"] = np.clip(images, 0, 255).astype(np.uint8)
            arrays[f"{split}_labels"] = labels.reshape(-1, 1).astype(np.uint8)
        Path(raw_dir).mkdir(parents=True, exist_ok=True)
        np.savez_compressed(Path(raw_dir) / self.filename, **arrays)
