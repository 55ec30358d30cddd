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

# docs/protocol.md §1: the official splits are pooled in this order.
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
        info = self.base_info()
        write_prepared(out_dir, images, labels, metadata, info)

    def generate_demo(
        self, raw_dir: str | Path, seed: int = 0, image_size: int = 28, n_train: int = 400, n_val: int = 100, n_test: int = 200
    ) -> None:
        """Grey images of organ-like blobs on noise; the class sets how many blobs, how large, how bright.

        Blob positions are random, so the class is in the content of the patches, which a
        frozen random backbone's features carry (a position code would need a trained one).
        """
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:image_size, 0:image_size]
        sizes = image_size * np.array([0.05, 0.11, 0.18])
        arrays = {}
        for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
            labels = rng.integers(0, self.n_classes, size=n)
            images = np.full((n, image_size, image_size), 40.0)
            for i, label in enumerate(labels):
                size, brightness = sizes[(label // 3) % 3], (120.0, 200.0)[(label // 9) % 2]
                for _ in range(1 + label % 3):
                    cy, cx = rng.uniform(0.2 * image_size, 0.8 * image_size, size=2)
                    images[i] += brightness * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * size**2))
            images += rng.normal(0, 20, size=images.shape)
            arrays[f"{split}_images"] = np.clip(images, 0, 255).astype(np.uint8)
            arrays[f"{split}_labels"] = labels.reshape(-1, 1).astype(np.uint8)
        Path(raw_dir).mkdir(parents=True, exist_ok=True)
        np.savez_compressed(Path(raw_dir) / self.filename, **arrays)
