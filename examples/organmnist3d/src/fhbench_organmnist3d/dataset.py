"""OrganMNIST3D: 3-D abdominal CT volumes, 11 organs (MedMNIST v3, 64 × 64 × 64 voxels).

Source: Yang et al., "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D
biomedical image classification", Scientific Data 2023; files on Zenodo record 10519652
(CC BY 4.0). One ``.npz`` holds the official splits as ``{train,val,test}_images``
(N × 64 × 64 × 64 uint8) and ``{train,val,test}_labels`` (N × 1). fhbench's nine datasets hold
2-D slices of the same organs (OrganA/C/SMNIST) but no volume: this is the tenth, in a
modality of its own (``volume``), read by the ``videomae`` backbone of this package.

Like the built-in MedMNIST sets, the official splits are pooled (train, test, val) and the
clients' splits are drawn from the pool; ``source_split`` in the metadata keeps where each
volume came from.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from fhbench.data.base import Dataset
from fhbench.data.download import RemoteFile, file_digest
from fhbench.data.medmnist_family import POOL_ORDER, npz_member_blocks, npz_member_header
from fhbench.data.prepared import stream_prepared
from fhbench.errors import InputError

# MedMNIST's own table (medmnist.INFO["organmnist3d"]): the 64-voxel file, its MD5 and split sizes.
URL = "https://zenodo.org/records/10519652/files/organmnist3d_64.npz?download=1"
FILENAME = "organmnist3d_64.npz"
MD5 = "58a2205adf14a9d0a189cb06dc78bf10"
SPLIT_SIZES = {"train": 971, "val": 161, "test": 610}
CLASS_NAMES = (
    "liver",
    "kidney-right",
    "kidney-left",
    "femur-right",
    "femur-left",
    "bladder",
    "heart",
    "lung-right",
    "lung-left",
    "spleen",
    "pancreas",
)


class OrganMNIST3D(Dataset):
    key = "organmnist3d"
    modality = "volume"
    class_names = CLASS_NAMES
    published = {"samples": sum(SPLIT_SIZES.values()), **{f"{split} samples": n for split, n in SPLIT_SIZES.items()}}

    def remote_files(self) -> list[RemoteFile]:
        return [RemoteFile(url=URL, filename=FILENAME, md5=MD5)]

    def prepare(self, raw_dir: str | Path, out_dir: str | Path) -> None:
        """The three splits' volumes, pooled in POOL_ORDER, copied a block at a time into ``inputs.npy``.

        At 64 voxels the volumes are 456 MB; the archive's arrays are never loaded whole.
        """
        path = Path(raw_dir) / FILENAME
        try:
            with zipfile.ZipFile(path) as archive:
                shapes = {split: npz_member_header(archive, f"{split}_images")[0] for split in POOL_ORDER}
                labels = {split: np.load(archive.open(f"{split}_labels.npy")).reshape(-1).astype(np.int64) for split in POOL_ORDER}
                volume = shapes["train"][1:]
                for split in POOL_ORDER:
                    if len(shapes[split]) != 4 or shapes[split][1:] != volume or shapes[split][0] != len(labels[split]):
                        raise ValueError(
                            f"{split}_images has shape {shapes[split]} for {len(labels[split])} labels; N × D × H × W expected"
                        )
                total = sum(len(labels[split]) for split in POOL_ORDER)
                with stream_prepared(out_dir, volume, np.uint8, total) as out:
                    for split in POOL_ORDER:
                        for block in npz_member_blocks(archive, f"{split}_images"):
                            out.add(block.astype(np.uint8, copy=False))
                    pooled = np.concatenate([labels[split] for split in POOL_ORDER])
                    metadata = pd.DataFrame({"source_split": np.repeat(POOL_ORDER, [len(labels[split]) for split in POOL_ORDER])})
                    info = {**self.base_info(), "input_shape": list(volume), "published_figures": self.published_figures(pooled, metadata)}
                    out.finish(pooled, metadata, info)
        except InputError:  # about the output folder, not the archive
            raise
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path} is not a readable OrganMNIST3D archive: {exc}") from exc

    def published_figures(self, labels, metadata) -> dict:
        from fhbench.data.published import compare_figures

        found = {"samples": len(labels), **{f"{s} samples": int((metadata["source_split"] == s).sum()) for s in SPLIT_SIZES}}
        return compare_figures(self.published, found)

    def source_figures(self, raw_dir: str | Path) -> dict:
        """Volumes per split, from the archive's array headers."""
        with zipfile.ZipFile(Path(raw_dir) / FILENAME) as archive:
            counts = {f"{s} samples": npz_member_header(archive, f"{s}_images")[0][0] for s in SPLIT_SIZES}
        return {"samples": sum(counts.values()), **counts}

    def published_checksums(self, raw_dir: str | Path) -> list[dict]:
        path = Path(raw_dir) / FILENAME
        found = file_digest(path, "md5") if path.is_file() else "missing"
        return [{"figure": f"md5 {FILENAME}", "published": MD5, "found": found, "match": found == MD5}]

    def generate_demo(
        self, raw_dir: str | Path, seed: int = 0, size: int = 16, n_train: int = 200, n_val: int = 50, n_test: int = 100
    ) -> None:
        """A twin in the source's format: ``organmnist3d_64.npz`` with the same arrays, ``size``³ voxels.

        Each volume is noise plus bright ellipsoid "organs" at random places; the class sets
        how many (1-3), how large and how bright, so that it lies in what the volume holds.
        """
        rng = np.random.default_rng(seed)
        grid = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), axis=-1).astype(np.float32)
        radii = size * np.array([0.08, 0.14, 0.22])
        arrays = {}
        for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
            labels = rng.integers(0, self.n_classes, size=n)
            volumes = rng.normal(30.0, 12.0, size=(n, size, size, size)).astype(np.float32)
            for i, label in enumerate(labels):
                count, radius, brightness = 1 + label % 3, radii[(label // 3) % 3], (110.0, 190.0)[(label // 9) % 2]
                for centre in rng.uniform(0.25 * size, 0.75 * size, size=(count, 3)):
                    volumes[i] += brightness * np.exp(-((grid - centre) ** 2).sum(-1) / (2 * radius**2))
            arrays[f"{split}_images"] = np.clip(volumes, 0, 255).astype(np.uint8)
            arrays[f"{split}_labels"] = labels.reshape(-1, 1).astype(np.uint8)
        Path(raw_dir).mkdir(parents=True, exist_ok=True)
        np.savez_compressed(Path(raw_dir) / FILENAME, **arrays)


DATASET = OrganMNIST3D()
