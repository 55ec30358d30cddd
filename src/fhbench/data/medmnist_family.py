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
from fhbench.data.prepared import check_prepared_content, stream_prepared
from fhbench.errors import InputError

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

    @property
    def published(self) -> dict:
        """MedMNIST's own sample counts per split (``INFO[flag]["n_samples"]``) and their sum."""
        counts = medmnist_info(self.key)["n_samples"]
        return {"samples": sum(counts.values()), **{f"{s} samples": counts[s] for s in POOL_ORDER}}

    def prepare(self, raw_dir: str | Path, out_dir: str | Path) -> None:
        """Images copied split by split, a block of rows at a time, into the prepared inputs.

        OrganAMNIST at 224 px is 3 GB of images; neither the archive's arrays nor the pooled
        array are ever loaded whole.
        """
        import zipfile

        path = Path(raw_dir) / self.filename
        try:
            with zipfile.ZipFile(path) as archive:
                shapes = {s: npz_member_header(archive, f"{s}_images")[0] for s in POOL_ORDER}
                labels = [np.load(archive.open(f"{s}_labels.npy")).reshape(-1) for s in POOL_ORDER]
                row_shape = shapes[POOL_ORDER[0]][1:]
                with stream_prepared(out_dir, row_shape, np.uint8, sum(shape[0] for shape in shapes.values())) as out:
                    for split, split_labels in zip(POOL_ORDER, labels):
                        if shapes[split][0] != len(split_labels) or shapes[split][1:] != row_shape:
                            raise ValueError(
                                f"{split}_images has shape {shapes[split]}, {len(split_labels)} labels and rows of {row_shape} expected"
                            )
                        for block in npz_member_blocks(archive, f"{split}_images"):
                            out.add(block, source=f"{path} ({split}_images)")  # refused unless exact uint8 values
                    metadata = pd.DataFrame(
                        {"source_split": np.concatenate([[s] * len(split_labels) for s, split_labels in zip(POOL_ORDER, labels)])}
                    )
                    parts = {"source_split": {s: f"{path} ({s}_images)" for s in POOL_ORDER}}
                    pooled = check_prepared_content(
                        np.concatenate(labels), metadata, self.base_info(), parts=parts, source_of=out.source_of
                    )
                    info = {**self.base_info(), "published_figures": self.published_figures(pooled, metadata)}
                    out.finish(pooled, metadata, info, parts=parts)
        except InputError:  # about the output folder, not the archive
            raise
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path} is not a readable MedMNIST archive: {exc}") from exc

    def published_figures(self, labels, metadata) -> dict:
        from fhbench.data.published import compare_figures

        found = {"samples": len(labels), **{f"{s} samples": int((metadata["source_split"] == s).sum()) for s in POOL_ORDER}}
        return compare_figures(self.published, found)

    def source_figures(self, raw_dir) -> dict:
        """Images per split, from the archive's array headers."""
        import zipfile

        with zipfile.ZipFile(Path(raw_dir) / self.filename) as archive:
            counts = {f"{s} samples": npz_member_header(archive, f"{s}_images")[0][0] for s in POOL_ORDER}
        return {"samples": sum(counts.values()), **counts}

    def published_checksums(self, raw_dir) -> list[dict]:
        from fhbench.data.download import file_digest

        (remote,) = self.remote_files()
        path = Path(raw_dir) / remote.filename
        got = file_digest(path, "md5") if path.is_file() else "missing"
        return [{"figure": f"md5 {remote.filename}", "published": remote.md5, "found": got, "match": got == remote.md5}]

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


def npz_member_header(archive, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one array of an open ``.npz`` (a zip of ``.npy`` files), read from its header."""
    with archive.open(f"{name}.npy") as f:
        shape, dtype, _ = _read_npy_header(f, f"{name}.npy")
    return shape, dtype


def npz_member_blocks(archive, name: str, block_bytes: int = 4 << 20):
    """The rows of one array of an open ``.npz``, a block of about ``block_bytes`` at a time.

    A deflated member costs a few times the block while it is read (zipfile's buffers and the
    copy written out): measured +25 MB at 4 MB blocks, +80 MB at 16 MB.
    """
    with archive.open(f"{name}.npy") as f:
        shape, dtype, _ = _read_npy_header(f, f"{name}.npy")
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        per_block = max(1, block_bytes // max(row_bytes, 1))
        for start in range(0, shape[0], per_block):
            k = min(per_block, shape[0] - start)
            data = f.read(k * row_bytes)
            if len(data) != k * row_bytes:
                raise ValueError(f"{name}.npy ends after {start * row_bytes + len(data)} of {shape[0] * row_bytes} bytes")
            yield np.frombuffer(data, dtype=dtype).reshape(k, *shape[1:])


def _read_npy_header(f, name: str):
    version = np.lib.format.read_magic(f)
    read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read is None:
        raise ValueError(f"{name}: unsupported .npy version {version}")
    shape, fortran, dtype = read(f)
    if fortran and len(shape) > 1:
        raise ValueError(f"{name}: Fortran-ordered arrays are not read row by row")
    return tuple(shape), np.dtype(dtype), fortran
