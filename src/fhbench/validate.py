"""Checks of every input at the boundary where it enters, before any work is done.

One function per kind of input: label vectors, prepared dataset folders, split files, model
folders, output paths. Each raises :class:`fhbench.errors.InputError` naming the file and
what to do; callers (the CLI, :func:`fhbench.partition.partition_prepared`,
:class:`fhbench.federation.Federation`) call them first and then trust what they got.
"""

from __future__ import annotations

import errno
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from fhbench.errors import InputError

REPREPARE = "run the prepare step again (snakemake --forcerun prepare_data, or fhbench prepare)"


def load_npy(path: str | Path, what: str = "array", mmap: bool = False, todo: str = REPREPARE) -> np.ndarray:
    """``numpy.load`` of a ``.npy`` file, any failure (missing, a folder, truncated, pickled) as an InputError."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, f"is a directory, not a .npy file of {what}", "give the .npy file")
    if not path.exists():
        raise InputError(path, "does not exist", todo)
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(path, f"cannot be read as a .npy file of {what} ({' '.join(str(exc).split())[:120]})", todo) from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        raise InputError(path, f"is an .npz archive, not a .npy file of {what}", "save one array with numpy.save")
    return array


def check_labels(
    labels: np.ndarray, where: str | Path, n_classes: int | None = None, todo: str = "", contiguous: bool = True
) -> np.ndarray:
    """A label vector as int64, or an InputError: 1-D, integer, 0 ≤ y < n_classes.

    Without ``n_classes`` (a bare ``--labels`` file) the classes must be 0..K-1, each present,
    so that no label value is taken for a class count (memory would scale with it).
    """
    todo = todo or "labels must be a 1-D integer vector of class indices 0..K-1"
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise InputError(where, f"labels have shape {labels.shape}, expected one dimension (one label per sample)", todo)
    if len(labels) == 0:
        raise InputError(where, "holds no labels", todo)
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels)
        if bad.any():
            raise InputError(where, f"{int(bad.sum())} labels are NaN or infinite (first at index {int(np.flatnonzero(bad)[0])})", todo)
        raise InputError(where, f"labels are floats ({labels.dtype}), not class indices", todo)
    if labels.dtype.kind not in "iu":
        raise InputError(where, f"labels have dtype {labels.dtype}, not integer", todo)
    low = int(labels.min())
    if low < 0:
        raise InputError(where, f"label {low} at index {int(np.argmin(labels))} is negative", todo)
    high = int(labels.max())
    if n_classes is not None:
        if high >= n_classes:
            raise InputError(where, f"label {high} at index {int(np.argmax(labels))} is not below the {n_classes} classes", todo)
    elif not contiguous:
        if high >= len(labels):
            raise InputError(
                where,
                f"label {high} at index {int(np.argmax(labels))} exceeds the number of samples ({len(labels)}): not a class index",
                todo,
            )
    else:
        present = np.unique(labels)
        if len(present) != high + 1:
            missing = sorted(set(range(min(high + 1, len(present) + 5))) - set(present.tolist()))[:3]
            raise InputError(
                where,
                f"labels take {len(present)} distinct values up to {high}, not 0..{len(present) - 1} (no sample of class {missing})",
                "number the classes 0..K-1",
            )
    return labels.astype(np.int64, copy=False)


def labels_identity(labels: np.ndarray) -> dict:
    """What a split file records of the labels it was made from: count and sha256 of the int64 values."""
    values = np.ascontiguousarray(np.asarray(labels, dtype=np.int64))
    return {"count": int(len(values)), "sha256": hashlib.sha256(values.tobytes()).hexdigest()}


def read_info(folder: Path) -> dict:
    path = folder / "info.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"is not readable JSON ({' '.join(str(exc).split())[:100]})", REPREPARE) from None
    if not isinstance(info, dict):
        raise InputError(path, "is not a JSON object", REPREPARE)
    n = info.get("n_classes")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(path, f"n_classes is {n!r}, expected a positive integer", REPREPARE)
    names = info.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) != n):
        raise InputError(
            path, f"class_names names {len(names) if isinstance(names, list) else names!r} classes, n_classes says {n}", REPREPARE
        )
    return info


def check_prepared(folder: str | Path) -> dict:
    """A prepared dataset folder (:mod:`fhbench.data.prepared`) is complete and consistent; returns info.json.

    Reads only headers of the big arrays (memory-mapped), so it costs nothing at real size.
    """
    import pandas as pd

    from fhbench.data.prepared import TEXT_OFFSETS, TEXTS

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            folder, "is not a prepared dataset folder" + (" (it is a file)" if folder.exists() else " (it does not exist)"), REPREPARE
        )
    text = (folder / TEXT_OFFSETS).exists()
    names = (TEXTS, TEXT_OFFSETS) if text else ("inputs.npy",)
    missing = [n for n in (*names, "labels.npy", "metadata.csv", "info.json") if not (folder / n).is_file()]
    if missing:
        raise InputError(folder, f"lacks {', '.join(missing)}", REPREPARE)
    info = read_info(folder)
    labels = check_labels(load_npy(folder / "labels.npy", "labels"), folder / "labels.npy", info["n_classes"], todo=REPREPARE)
    n = len(labels)
    if text:
        offsets = load_npy(folder / TEXT_OFFSETS, "text offsets")
        size = (folder / TEXTS).stat().st_size
        if offsets.ndim != 1 or len(offsets) != n + 1 or offsets.dtype.kind not in "iu" or (len(offsets) and int(offsets[-1]) != size):
            raise InputError(
                folder / TEXT_OFFSETS,
                f"holds {len(offsets)} offsets ending at {offsets[-1] if len(offsets) else '-'}, "
                f"expected {n + 1} ending at the {size} bytes of {TEXTS}",
                REPREPARE,
            )
    else:
        inputs = load_npy(folder / "inputs.npy", "inputs", mmap=True)
        if inputs.ndim < 2 or len(inputs) != n:
            raise InputError(
                folder / "inputs.npy", f"has shape {inputs.shape}, expected {n} rows (one per label) of at least one value", REPREPARE
            )
        if inputs.dtype.kind not in "uif":
            raise InputError(folder / "inputs.npy", f"has dtype {inputs.dtype}, expected numbers", REPREPARE)
        expected = info.get("input_shape")
        if expected is not None and list(inputs.shape[1:]) != list(expected):
            raise InputError(folder / "inputs.npy", f"rows have shape {list(inputs.shape[1:])}, info.json says {expected}", REPREPARE)
    try:
        rows = len(pd.read_csv(folder / "metadata.csv", usecols=[0]))
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(folder / "metadata.csv", f"is not a readable CSV ({' '.join(str(exc).split())[:100]})", REPREPARE) from None
    if rows != n:
        raise InputError(folder / "metadata.csv", f"has {rows} rows for {n} labels", REPREPARE)
    return info


def check_split(path: str | Path, labels: np.ndarray | None = None, shares_samples=None) -> list[dict[str, list[int]]]:
    """A split file's clients, checked against the labels it will index (when given).

    ``shares_samples(scheme)`` says whether a scheme's clients share samples on purpose
    (:func:`fhbench.partition.scheme_shares_samples`); without it no split may share any.
    """
    path = Path(path)
    redo = "make the split again (snakemake --forcerun make_partition, or fhbench partition)"
    if not path.is_file():
        raise InputError(path, "is not a split file" + (" (it is a directory)" if path.is_dir() else " (it does not exist)"), redo)
    try:
        split = json.loads(path.read_text())
        clients = [{s: c[s] for s in ("train", "val", "test")} for c in split["clients"]]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(path, f"is not a client split (expected clients[*].train/val/test; {type(exc).__name__}: {exc})", redo) from None
    if not clients:
        raise InputError(path, "lists no clients", redo)
    for i, c in enumerate(clients):
        for s, idx in c.items():
            if not isinstance(idx, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in idx):
                raise InputError(path, f"clients[{i}].{s} is not a list of integer indices", redo)
        if not (c["val"] or c["test"]):
            raise InputError(
                path, f"client {i} has no validation or test sample to be scored on", "use fewer clients, a larger datapercent or more data"
            )
    if not any(c["train"] for c in clients):
        raise InputError(
            path, f"none of its {len(clients)} clients has a training sample", "use fewer clients, a larger datapercent or more data"
        )
    if labels is not None:
        stored = split.get("labels")
        if stored is None:
            raise InputError(
                path,
                "holds no labels record, so nothing shows it was made from this prepared data (a split written by hand, "
                "or before splits recorded their labels)",
                redo,
            )
        if stored != labels_identity(labels):
            raise InputError(
                path,
                f"was made from other labels ({stored.get('count') if isinstance(stored, dict) else stored} samples, "
                f"sha256 {str(stored.get('sha256') if isinstance(stored, dict) else '?')[:12]}…) "
                f"than the prepared data ({len(labels)} samples)",
                redo,
            )
        top = max(max(idx, default=-1) for c in clients for idx in c.values())
        low = min(min(idx, default=0) for c in clients for idx in c.values())
        if top >= len(labels) or low < 0:
            raise InputError(path, f"indexes sample {top if top >= len(labels) else low}, but the prepared data holds {len(labels)}", redo)
    check_disjoint(path, clients, split.get("scheme"), redo, bool(shares_samples and shares_samples(split.get("scheme"))))
    return clients


def check_disjoint(path: Path, clients: list[dict[str, list[int]]], scheme: object, redo: str, shared: bool = False) -> None:
    """No sample twice in a client (in one part, or in train and test), nor in two clients unless the scheme shares samples."""
    parts = [[(s, np.asarray(c[s], dtype=np.int64)) for s in ("train", "val", "test")] for c in clients]
    every = np.concatenate([idx for client in parts for _, idx in client])
    if len(every) and every.min() < 0:
        raise InputError(path, f"holds the negative sample index {int(every.min())}", redo)
    size = int(every.max()) + 1 if len(every) else 0
    owner = np.full(size, -1, dtype=np.int64)
    for i, client in enumerate(parts):
        seen = np.zeros(size, dtype=np.int8)  # 1 + the part a sample was seen in
        for k, (s, idx) in enumerate(client):
            values, counts = np.unique(idx, return_counts=True)
            if (counts > 1).any():
                raise InputError(path, f"client {i} lists sample {int(values[counts > 1][0])} twice in {s}", redo)
            again = idx[seen[idx] > 0]
            if len(again):
                earlier = client[int(seen[again[0]]) - 1][0]
                raise InputError(path, f"client {i} has sample {int(again[0])} in both {earlier} and {s}", redo)
            seen[idx] = k + 1
        if shared:
            continue
        idx = np.concatenate([idx for _, idx in client])
        other = owner[idx]
        if (other >= 0).any():
            first = int(np.flatnonzero(other >= 0)[0])
            raise InputError(
                path,
                f"sample {int(idx[first])} belongs to client {int(other[first])} and client {i}; the {scheme or 'split'} "
                "scheme gives every sample to one client",
                redo,
            )
        owner[idx] = i


def check_output_path(path: str | Path, option: str = "--out") -> Path:
    """An output file path that may be replaced: never a folder, a device, a pipe, or under a file."""
    from fhbench.io import check_replaceable

    return check_replaceable(path, option, folder=False)


def check_output_dir(path: str | Path, option: str = "--out") -> Path:
    """An output folder path that may be written: never an existing file, a device, a pipe, or under a file."""
    from fhbench.io import check_replaceable

    return check_replaceable(path, option, folder=True)


def check_model_loading(
    model_dir: str | Path, model, config, loading_info: dict, head_modules: tuple[str, ...], expected_type: str
) -> None:
    """After ``from_pretrained``: the folder held this architecture and every backbone weight was loaded."""
    model_dir = Path(model_dir)
    refetch = f"fetch the model again (snakemake --forcerun fetch_model, or fhbench fetch-model --out {model_dir})"
    if getattr(config, "model_type", None) != expected_type:
        raise InputError(
            model_dir / "config.json", f"is a {getattr(config, 'model_type', None)!r} model, expected {expected_type!r}", refetch
        )

    def is_head(name: str) -> bool:
        return any(name == h or name.startswith(h + ".") or f".{h}." in f".{name}" for h in head_modules)

    missing = [k for k in loading_info.get("missing_keys", []) if not is_head(k)]
    mismatched = [k[0] if isinstance(k, tuple) else k for k in loading_info.get("mismatched_keys", [])]
    mismatched = [k for k in mismatched if not is_head(k)]
    if missing or mismatched:
        names = sorted(mismatched or missing)[:3]
        kind = "have other shapes than the model's config" if mismatched else "are missing from the weights"
        raise InputError(model_dir, f"{len(mismatched) or len(missing)} backbone weights {kind} (e.g. {', '.join(names)})", refetch)
    check_finite_weights(model_dir, model)


def check_finite_weights(model_dir: str | Path, model) -> None:
    """Every loaded weight is finite: a NaN in the file would otherwise surface rounds later as a diverged run."""
    import torch

    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InputError(
                model_dir,
                f"weight {name} holds NaN or infinite values",
                f"fetch the model again (snakemake --forcerun fetch_model, or fhbench fetch-model --out {model_dir})",
            )


def check_finite_inputs(path: str | Path, rows, index: np.ndarray) -> None:
    """The prepared inputs a run uses are finite (``rows`` = the inputs at ``index``); names the first sample that is not."""
    if not isinstance(rows, np.ndarray) or rows.dtype.kind not in "fc" or not len(rows):
        return
    finite = np.isfinite(rows.reshape(len(rows), -1)).all(axis=1)
    if not finite.all():
        raise InputError(path, f"sample {int(index[np.flatnonzero(~finite)[0]])} holds NaN or infinite values", REPREPARE)


def check_model_sizes(model_dir: str | Path, expected: dict | None) -> None:
    """config.json of a model folder agrees with the sizes the config's ``backbones.<name>.tiny`` sets."""
    if not expected:
        return
    model_dir = Path(model_dir)
    try:
        saved = json.loads((model_dir / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(model_dir / "config.json", f"is not readable JSON ({exc})", "fetch the model again") from None
    for key, value in expected.items():
        if isinstance(value, dict):
            continue  # nested (MOMENT's t5_config): its load checks every tensor's shape
        if key in saved and saved[key] != value:
            raise InputError(
                model_dir / "config.json",
                f"{key} is {saved[key]!r}, the config's backbone says {value!r}",
                "fetch the model again (snakemake --forcerun fetch_model) or fix the config",
            )


def check_raw_dir(raw_dir: str | Path) -> Path:
    """A raw folder written by acquisition (it holds MANIFEST.json), not one made or filled by hand."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise InputError(
            raw_dir,
            "is not a raw data folder" + (" (it is a file)" if raw_dir.exists() else " (it does not exist)"),
            "acquire the data first (snakemake resources/raw/<dataset>, or fhbench acquire)",
        )
    if not (raw_dir / "MANIFEST.json").is_file():
        raise InputError(
            raw_dir,
            "was not written by the acquire step (no MANIFEST.json)",
            "remove it; put hand-downloaded files in resources/downloads/<dataset>/ and acquire again (they are checked and used)",
        )
    return raw_dir


def prepare_checked(key: str, raw_dir: str | Path, out_dir: str | Path, options: dict | None = None) -> None:
    """Prepare a dataset from checked raw data; a raw file the reader cannot read is an InputError naming the folder."""
    from fhbench.data import get_dataset

    dataset = get_dataset(key)
    check_raw_dir(raw_dir)
    try:
        dataset.prepare(raw_dir, out_dir, **(options or {}))
    except (InputError, MemoryError, KeyboardInterrupt):
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):  # the disk, not the data (exit 1)
            raise
        raise InputError(
            raw_dir,
            f"cannot be prepared as {key} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})",
            "a raw file is missing or unreadable: acquire it again (snakemake --forcerun acquire_data)",
        ) from exc
    except Exception as exc:  # noqa: BLE001 - each reader (numpy, pandas, wfdb, mne, soundfile) raises its own types
        raise InputError(
            raw_dir,
            f"cannot be prepared as {key} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})",
            "a raw file is damaged or not from the source: acquire it again (snakemake --forcerun acquire_data)",
        ) from exc
