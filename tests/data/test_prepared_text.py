"""Text datasets in the prepared format: UTF-8 bytes + offsets, read back through TextArray."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fhbench.data.prepared import TextArray, load_prepared, write_prepared

TEXTS = ["first sentence", "", "ünïcödé — 数据 ✓", "tab\tand\nnewline", "last"]


@pytest.fixture
def prepared(tmp_path):
    out = tmp_path / "prep"
    write_prepared(
        out, TEXTS, np.array([0, 1, 2, 1, 0]), pd.DataFrame({"source_split": ["train"] * 5}), {"dataset": "t", "modality": "text"}
    )
    return out


def test_files_and_info(prepared):
    assert sorted(p.name for p in prepared.iterdir()) == ["info.json", "labels.npy", "metadata.csv", "text_offsets.npy", "texts.bin"]
    offsets = np.load(prepared / "text_offsets.npy")
    assert offsets.dtype == np.int64 and offsets[0] == 0 and offsets[-1] == (prepared / "texts.bin").stat().st_size
    info = json.loads((prepared / "info.json").read_text())
    assert info["input_dtype"] == "str" and info["n_samples"] == 5 and info["n_classes"] == 3


@pytest.mark.parametrize("mmap", [True, False])
def test_indexing(prepared, mmap):
    data = load_prepared(prepared, mmap=mmap)
    texts = data.inputs
    assert isinstance(texts, TextArray) and len(texts) == 5 and texts.shape == (5,)
    assert [texts[i] for i in range(5)] == TEXTS
    assert texts[-1] == "last" and texts[np.int64(2)] == TEXTS[2]
    picked = texts[np.array([4, 0, 2, 0])]
    assert isinstance(picked, np.ndarray) and picked.dtype == object
    assert picked.tolist() == ["last", "first sentence", TEXTS[2], "first sentence"]
    assert texts[[1, 3]].tolist() == ["", TEXTS[3]]
    assert texts[1:4].tolist() == TEXTS[1:4]
    assert texts[np.array([], dtype=np.int64)].shape == (0,)
    assert list(texts) == TEXTS
    with pytest.raises(IndexError):
        texts[5]
    with pytest.raises(IndexError):
        texts[np.array([0, 7])]


def test_object_array_and_errors(tmp_path):
    arr = np.array(["a", "bb"], dtype=object)
    write_prepared(tmp_path / "p", arr, np.array([0, 1]), pd.DataFrame(index=range(2)), {"modality": "text"})
    assert load_prepared(tmp_path / "p").inputs[np.array([1, 0])].tolist() == ["bb", "a"]
    with pytest.raises(ValueError, match="differ in length"):
        write_prepared(tmp_path / "q", ["a"], np.array([0, 1]), pd.DataFrame(index=range(2)), {})
    (tmp_path / "p" / "texts.bin").unlink()
    with pytest.raises(FileNotFoundError, match="lacks texts.bin"):
        load_prepared(tmp_path / "p")


def test_array_inputs_unchanged(tmp_path):
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    write_prepared(tmp_path / "img", images, np.array([0, 1]), pd.DataFrame(index=range(2)), {})
    loaded = load_prepared(tmp_path / "img")
    assert isinstance(loaded.inputs, np.memmap) and np.array_equal(loaded.inputs, images)
    assert not (tmp_path / "img" / "texts.bin").exists()
