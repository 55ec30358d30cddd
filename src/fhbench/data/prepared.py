"""The one prepared format every dataset is turned into.

A prepared dataset is a folder holding

- ``inputs.npy``: the model inputs, one row per sample (images ``N×H×W`` uint8, audio ``N×T``,
  time series ``N×C×T``), memory-mappable; for text datasets instead ``texts.bin`` (all texts,
  UTF-8, back to back) and ``text_offsets.npy`` (N+1 int64 byte offsets), read through
  :class:`TextArray` without loading the corpus (PubMed RCT holds 2.2 M sentences);
- ``labels.npy``: int64 class labels;
- ``metadata.csv``: one row per sample (label plus patient/subject/device/site/source split
  where the dataset has them), used by natural partitions and the dataset table;
- ``info.json``: dataset key, modality, class names and shapes.
"""

from __future__ import annotations

import json
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from fhbench.io import atomic_path

TEXTS, TEXT_OFFSETS = "texts.bin", "text_offsets.npy"


class TextArray:
    """Read-only, indexable view of the texts of a prepared text dataset.

    ``texts[i]`` is one ``str``; ``texts[idx]`` with an integer array, list or slice is a numpy
    object array of ``str``, which is what a text backbone's ``encode`` tokenises. The bytes are
    memory-mapped, so only the texts that are indexed are ever decoded.
    """

    def __init__(self, data: np.ndarray, offsets: np.ndarray):
        self._data = data
        self._offsets = np.asarray(offsets, dtype=np.int64)
        if self._offsets.ndim != 1 or len(self._offsets) < 1 or self._offsets[-1] != len(data):
            raise ValueError(f"text offsets ({self._offsets[-1] if len(self._offsets) else 'none'}) do not match {len(data)} text bytes")

    @classmethod
    def open(cls, folder: str | Path, mmap: bool = True) -> "TextArray":
        folder = Path(folder)
        offsets = np.load(folder / TEXT_OFFSETS)
        if offsets[-1] == 0:  # np.memmap refuses empty files
            data = np.zeros(0, dtype=np.uint8)
        elif mmap:
            data = np.memmap(folder / TEXTS, dtype=np.uint8, mode="r")
        else:
            data = np.fromfile(folder / TEXTS, dtype=np.uint8)
        return cls(data, offsets)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)

    dtype = np.dtype(object)

    def _text(self, i: int) -> str:
        return bytes(self._data[self._offsets[i] : self._offsets[i + 1]]).decode("utf-8")

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"text index {i} out of range for {len(self)} texts")
            return self._text(i % len(self))
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = index.astype(np.int64, copy=False).ravel()
        if len(index) and (index.max() >= len(self) or index.min() < -len(self)):
            raise IndexError(f"text index out of range for {len(self)} texts")
        out = np.empty(len(index), dtype=object)
        for k, i in enumerate(index % max(len(self), 1)):
            out[k] = self._text(int(i))
        return out

    def __iter__(self):
        return (self._text(i) for i in range(len(self)))

    def __array__(self, dtype=None, copy=None):
        return self[np.arange(len(self))]


def is_text(inputs) -> bool:
    """True for a list/tuple of ``str``, a numpy str/object array, or a :class:`TextArray`."""
    if isinstance(inputs, TextArray):
        return True
    if isinstance(inputs, np.ndarray):
        return inputs.dtype.kind in "OU"
    return isinstance(inputs, (list, tuple)) and all(isinstance(t, str) for t in inputs)


def _write_texts(folder: Path, texts: Sequence[str]) -> None:
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    with open(folder / TEXTS, "wb") as out:
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text input {i} is {type(text).__name__}, not str")
            encoded = text.encode("utf-8")
            out.write(encoded)
            offsets[i + 1] = offsets[i] + len(encoded)
    np.save(folder / TEXT_OFFSETS, offsets)


@dataclass
class PreparedDataset:
    inputs: np.ndarray | TextArray
    labels: np.ndarray
    metadata: pd.DataFrame
    info: dict

    @property
    def n_classes(self) -> int:
        return int(self.info["n_classes"])

    def __len__(self) -> int:
        return len(self.labels)


def write_prepared(
    out_dir: str | Path,
    inputs: np.ndarray | Sequence[str],
    labels: np.ndarray,
    metadata: pd.DataFrame,
    info: dict,
    record_key: Sequence[str] = (),
    parts: dict | None = None,
    source: str | None = None,
) -> None:
    """Write a prepared dataset folder atomically (all files appear together or none).

    ``inputs`` is an array (one row per sample) or, for text datasets, a sequence of ``str``.
    What is written is checked first (:func:`check_prepared_content`; ``record_key``, ``parts``
    and ``source`` as there).
    """
    labels = np.asarray(labels)
    if len(inputs) != len(labels) or len(metadata) != len(labels):
        raise ValueError(f"inputs ({len(inputs)}), labels ({len(labels)}) and metadata ({len(metadata)}) differ in length")
    text = is_text(inputs)
    info = dict(info)
    if not text:
        inputs = np.asarray(inputs)
        check_finite_rows(inputs, lambda row: source or f"input row {row}")
    labels = check_prepared_content(labels, metadata, info, record_key, parts, lambda row: source or f"record {row}")
    if text:
        info.update(n_samples=int(len(labels)), input_shape=[], input_dtype="str")
    else:
        info.update(n_samples=int(len(labels)), input_shape=list(inputs.shape[1:]), input_dtype=str(inputs.dtype))
    metadata = metadata.copy()
    metadata.insert(0, "label", labels)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        if text:
            _write_texts(tmp, inputs)
        else:
            np.save(tmp / "inputs.npy", inputs)
        np.save(tmp / "labels.npy", labels)
        metadata.to_csv(tmp / "metadata.csv", index=False)
        (tmp / "info.json").write_text(json.dumps(info, indent=1) + "\n")


RAW_TODO = "a raw file is damaged or not from the source: acquire it again (snakemake --forcerun acquire_data)"


def check_finite_rows(rows: np.ndarray, source_of, first_row: int = 0, dtype=None) -> None:
    """Rows about to be stored hold only finite numbers that ``dtype`` stores exactly (uint8 images: integers 0-255).

    A NaN cast to an integer type becomes 0 without a word; refused here, naming the source.
    """
    from fhbench.errors import InputError

    rows = np.asarray(rows)
    if rows.dtype.kind not in "fc":
        target = np.dtype(dtype) if dtype is not None else rows.dtype
        if rows.dtype.kind in "iu" and target.kind in "iu" and rows.size:
            info = np.iinfo(target)
            low, high = rows.min(), rows.max()
            if low < info.min or high > info.max:
                bad = int(np.flatnonzero(((rows < info.min) | (rows > info.max)).reshape(len(rows), -1).any(axis=1))[0])
                raise InputError(
                    source_of(first_row + bad),
                    f"holds values from {low} to {high}, which {target} cannot store (sample {first_row + bad})",
                    RAW_TODO,
                )
        return
    finite = np.isfinite(rows).reshape(len(rows), -1).all(axis=1) if rows.ndim > 1 else np.isfinite(rows)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InputError(source_of(first_row + bad), f"holds NaN or infinite values (sample {first_row + bad})", RAW_TODO)
    target = np.dtype(dtype) if dtype is not None else rows.dtype
    if target.kind in "iu" and rows.size:
        info = np.iinfo(target)
        flat = rows.reshape(len(rows), -1)
        wrong = ((flat != np.round(flat)) | (flat < info.min) | (flat > info.max)).any(axis=1)
        if wrong.any():
            bad = int(np.flatnonzero(wrong)[0])
            raise InputError(
                source_of(first_row + bad),
                f"holds values {target} cannot store exactly (sample {first_row + bad}, e.g. fractions)",
                RAW_TODO,
            )


def check_prepared_content(
    labels: np.ndarray, metadata: pd.DataFrame, info: dict, record_key: Sequence[str] = (), parts: dict | None = None, source_of=None
) -> np.ndarray:
    """What a preparation is about to write holds up; returns the labels as int64.

    - at least one sample, and labels that are class indices 0..n_classes-1 (``info``);
    - no record twice: the ``record_key`` columns of ``metadata`` identify a sample (a database
      row or a subject listed twice would otherwise be counted twice, and could land in train
      and test);
    - every expected part non-empty: ``parts`` maps a metadata column to ``{value: the raw
      file that holds that part}`` (an empty CSV would silently drop a whole part).

    Errors name the raw file (``source_of(row)``) and the record, and advise acquiring again.
    """
    from fhbench.errors import InputError

    source_of = source_of or (lambda row: f"record {row}")
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise InputError(source_of(0), "holds no samples at all", RAW_TODO)
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.round(labels))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(source_of(row), f"label {labels[row]} of {_record(metadata, record_key, row)} is not a class index", RAW_TODO)
    labels = labels.astype(np.int64)
    n_classes = info.setdefault("n_classes", int(labels.max()) + 1)
    wrong = (labels < 0) | (labels >= n_classes)
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise InputError(
            source_of(row),
            f"label {labels[row]} of {_record(metadata, record_key, row)} is not one of the classes 0..{n_classes - 1}",
            RAW_TODO,
        )
    if record_key:
        twice = metadata.duplicated(subset=list(record_key), keep=False).to_numpy()
        if twice.any():
            first, second = (int(i) for i in np.flatnonzero(twice)[:2])
            raise InputError(
                source_of(second), f"{_record(metadata, record_key, second)} appears twice (samples {first} and {second})", RAW_TODO
            )
    for column, expected in (parts or {}).items():
        present = set(metadata[column].astype(str)) if column in metadata.columns else set()
        for value, file in expected.items():
            if str(value) not in present:
                raise InputError(file, f"holds no samples (the {column} part {value!r} would be missing from the dataset)", RAW_TODO)
    return labels


def _record(metadata: pd.DataFrame, key: Sequence[str], row: int) -> str:
    if not key:
        return f"sample {row}"
    values = metadata.iloc[row]
    return "record " + ", ".join(f"{k}={values[k]}" for k in key)


NPY_ALIGN = 64  # numpy pads .npy headers so that the data starts on a 64-byte boundary


def _npy_header(shape: tuple[int, ...], dtype: np.dtype, length: int | None = None) -> bytes:
    """A version 1.0 ``.npy`` header for a C-ordered array, padded to ``length`` bytes when given."""
    text = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(int(d) for d in shape)})
    if length is None:
        length = -(-(10 + len(text) + 1) // NPY_ALIGN) * NPY_ALIGN
    if 10 + len(text) + 1 > length:
        raise ValueError(f"an .npy header for shape {shape} does not fit in {length} bytes")
    body = text.ljust(length - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


class NpyRowWriter:
    """Rows appended to an ``.npy`` file as they come, never held together in memory.

    The real ICBHI and SPRSound clips are 3.5-4.7 GB at 8 s, PTB-XL's windows 2.3 GB and
    OrganAMNIST's images 3 GB: preparing them must not need the whole array in RAM. Plain
    writes, not a memory map, so the written rows are page cache the kernel can drop rather
    than resident memory of the job. ``capacity`` is an upper bound of the row count, or None
    when it is not known ahead; the header is rewritten with the true count (padded to the
    same length) when closed.
    """

    UNKNOWN_ROWS = 10**15  # sizes the header when the row count is not known ahead

    def __init__(self, path: str | Path, row_shape: Sequence[int], dtype, capacity: int | None = None):
        self.path, self.row_shape, self.dtype = Path(path), tuple(int(d) for d in row_shape), np.dtype(dtype)
        self.capacity, self.n = (self.UNKNOWN_ROWS if capacity is None else int(capacity)), 0
        self._header = _npy_header((self.capacity, *self.row_shape), self.dtype)
        self._file = open(self.path, "wb")
        self._file.write(self._header)

    def add(self, rows: np.ndarray, source_of=None) -> None:
        """Append one row (shape ``row_shape``) or a block of rows (``k × row_shape``).

        Rows must hold finite values the file's dtype stores exactly (:func:`check_finite_rows`);
        ``source_of(row)`` names where a row came from in the error.
        """
        rows = np.asarray(rows)
        if rows.ndim == len(self.row_shape):  # one row
            rows = rows[None]
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: a row of shape {rows.shape[1:]} where {self.row_shape} is expected")
        if self.n + len(rows) > self.capacity:
            raise ValueError(f"{self.path.name}: more than the {self.capacity} rows announced")
        check_finite_rows(rows, source_of or (lambda row: f"{self.path.name} row {row}"), self.n, self.dtype)
        self._file.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.n += len(rows)

    def close(self) -> int:
        """Write the true row count into the header; return it."""
        if self._file.closed:
            return self.n
        self._file.seek(0)
        self._file.write(_npy_header((self.n, *self.row_shape), self.dtype, len(self._header)))
        self._file.truncate(len(self._header) + self.n * int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize)
        self._file.close()
        return self.n


class TextWriter:
    """Texts appended to ``texts.bin`` as they come; offsets kept as one int64 array."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._file = open(folder / TEXTS, "wb")
        self._offsets = np.zeros(1 << 16, dtype=np.int64)
        self.n = 0

    def add(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"text input {self.n} is {type(text).__name__}, not str")
        encoded = text.encode("utf-8")
        if self.n + 1 >= len(self._offsets):
            self._offsets = np.concatenate([self._offsets, np.zeros(len(self._offsets), dtype=np.int64)])
        self._file.write(encoded)
        self._offsets[self.n + 1] = self._offsets[self.n] + len(encoded)
        self.n += 1

    def close(self) -> int:
        if not self._file.closed:
            self._file.close()
            np.save(self.folder / TEXT_OFFSETS, self._offsets[: self.n + 1])
        return self.n


class PreparedStream:
    """A prepared folder being written: inputs row by row (:meth:`add`), the rest at :meth:`finish`."""

    def __init__(self, folder: Path, row_shape: Sequence[int] | None, dtype, capacity: int | None):
        self.folder = folder
        self.text = row_shape is None
        self.inputs = TextWriter(folder) if self.text else NpyRowWriter(folder / "inputs.npy", row_shape, dtype, capacity)
        self.finished = False
        self._sources: list[tuple[int, str]] = []  # (first row, where the rows from there came from)

    @property
    def n(self) -> int:
        return self.inputs.n

    def add(self, rows, source: str | Path | None = None) -> None:
        """One row or a block of rows; for a text dataset, one ``str``. ``source``: the raw file they came from."""
        if source is not None and (not self._sources or self._sources[-1][1] != str(source)):
            self._sources.append((self.n, str(source)))
        if self.text:
            self.inputs.add(rows)
        else:
            self.inputs.add(rows, self.source_of)

    def source_of(self, row: int) -> str:
        """The raw file a sample came from (as given to :meth:`add`), or the sample's number."""
        import bisect

        at = bisect.bisect_right([first for first, _ in self._sources], row) - 1
        return self._sources[at][1] if at >= 0 else f"sample {row}"

    def finish(
        self, labels: np.ndarray, metadata: pd.DataFrame, info: dict, record_key: Sequence[str] = (), parts: dict | None = None
    ) -> None:
        """Labels, metadata and info.json, after :func:`check_prepared_content` (``record_key``, ``parts`` as there)."""
        n = self.inputs.close()
        labels = np.asarray(labels)
        if len(labels) != n or len(metadata) != n:
            raise ValueError(f"inputs ({n}), labels ({len(labels)}) and metadata ({len(metadata)}) differ in length")
        info = dict(info)
        metadata = metadata.reset_index(drop=True)
        labels = check_prepared_content(labels, metadata, info, record_key, parts, self.source_of)
        if self.text:
            info.update(n_samples=n, input_shape=[], input_dtype="str")
        else:
            info.update(n_samples=n, input_shape=list(self.inputs.row_shape), input_dtype=str(self.inputs.dtype))
        metadata = metadata.copy()
        metadata.insert(0, "label", labels)
        np.save(self.folder / "labels.npy", labels)
        metadata.to_csv(self.folder / "metadata.csv", index=False)
        (self.folder / "info.json").write_text(json.dumps(info, indent=1) + "\n")
        self.finished = True


@contextmanager
def stream_prepared(
    out_dir: str | Path, row_shape: Sequence[int] | None, dtype=None, capacity: int | None = None
) -> Iterator[PreparedStream]:
    """Write a prepared folder whose inputs never sit in memory whole, atomically like :func:`write_prepared`.

    ``capacity`` bounds the number of rows (rows skipped on the way are simply not written).
    ``row_shape=None``: a text dataset, one ``str`` per :meth:`PreparedStream.add`.
    The folder appears only if the block calls :meth:`PreparedStream.finish` and returns.
    """
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        stream = PreparedStream(tmp, row_shape, dtype, capacity)
        try:
            yield stream
        finally:
            stream.inputs.close()
        if not stream.finished:
            raise RuntimeError(f"{out_dir}: preparation ended without writing labels and metadata")


def load_prepared(path: str | Path, mmap: bool = True) -> PreparedDataset:
    """Load a prepared folder; inputs are memory-mapped so large datasets cost no RAM up front."""
    path = Path(path)
    text = (path / TEXT_OFFSETS).exists()
    inputs_files = (TEXTS, TEXT_OFFSETS) if text else ("inputs.npy",)
    missing = [n for n in (*inputs_files, "labels.npy", "metadata.csv", "info.json") if not (path / n).exists()]
    if missing:
        raise FileNotFoundError(f"prepared dataset {path} lacks {', '.join(missing)}; run the prepare step first")
    return PreparedDataset(
        inputs=TextArray.open(path, mmap) if text else np.load(path / "inputs.npy", mmap_mode="r" if mmap else None),
        labels=np.load(path / "labels.npy"),
        metadata=pd.read_csv(path / "metadata.csv"),
        info=json.loads((path / "info.json").read_text()),
    )
