"""Prepared inputs written row by row (fhbench.data.prepared.stream_prepared) and MedMNIST read block by block."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from fhbench.data.medmnist_family import npz_member_blocks, npz_member_header
from fhbench.data.prepared import NpyRowWriter, load_prepared, stream_prepared, write_prepared


@pytest.mark.parametrize("capacity", [37, 40, 5000])
def test_rows_written_one_by_one_load_as_the_array(tmp_path, capacity):
    rows = np.random.default_rng(0).normal(size=(37, 3, 5)).astype(np.float32)
    writer = NpyRowWriter(tmp_path / "x.npy", (3, 5), np.float32, capacity)
    writer.add(rows[0])  # one row
    writer.add(rows[1:30])  # a block
    for row in rows[30:]:
        writer.add(row)
    assert writer.close() == 37
    loaded = np.load(tmp_path / "x.npy")
    np.testing.assert_array_equal(loaded, rows)
    assert (tmp_path / "x.npy").stat().st_size == 128 + rows.nbytes  # header kept at its 64-byte-aligned length
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy", mmap_mode="r"), rows)


def test_writer_refuses_wrong_rows_and_overflow(tmp_path):
    writer = NpyRowWriter(tmp_path / "x.npy", (4,), np.float32, 2)
    with pytest.raises(ValueError, match=r"row of shape \(3,\) where \(4,\)"):
        writer.add(np.zeros(3))
    writer.add(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="more than the 2 rows"):
        writer.add(np.zeros(4))
    writer.close()


def test_stream_prepared_matches_write_prepared(tmp_path):
    rng = np.random.default_rng(1)
    x, labels = rng.integers(0, 255, size=(20, 6, 6), dtype=np.uint8), rng.integers(0, 3, size=20)
    meta = pd.DataFrame({"patient": np.arange(20) // 4})
    write_prepared(tmp_path / "a", x, labels, meta, {"dataset": "t", "modality": "image"})
    with stream_prepared(tmp_path / "b", (6, 6), np.uint8, capacity=25) as out:
        for row in x:
            out.add(row)
        out.finish(labels, meta, {"dataset": "t", "modality": "image"})
    a, b = load_prepared(tmp_path / "a"), load_prepared(tmp_path / "b")
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.metadata, b.metadata)
    assert json.loads((tmp_path / "a" / "info.json").read_text()) == json.loads((tmp_path / "b" / "info.json").read_text())


def test_stream_prepared_leaves_nothing_on_error_or_without_finish(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with stream_prepared(tmp_path / "p", (2,), np.float32, 3) as out:
            out.add(np.ones(2))
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="without writing labels"):
        with stream_prepared(tmp_path / "q", (2,), np.float32, 3) as out:
            out.add(np.ones(2))
    with pytest.raises(ValueError, match="differ in length"):
        with stream_prepared(tmp_path / "r", (2,), np.float32, 3) as out:
            out.add(np.ones(2))
            out.finish(np.zeros(2), pd.DataFrame(index=range(2)), {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "deflated"])
def test_npz_member_read_in_blocks(tmp_path, save):
    images = np.random.default_rng(2).integers(0, 256, size=(53, 9, 7), dtype=np.uint8)
    save(tmp_path / "a.npz", train_images=images)
    with zipfile.ZipFile(tmp_path / "a.npz") as archive:
        assert npz_member_header(archive, "train_images") == ((53, 9, 7), np.dtype(np.uint8))
        blocks = list(npz_member_blocks(archive, "train_images", block_bytes=10 * 63))
    assert [len(b) for b in blocks] == [10] * 5 + [3]
    np.testing.assert_array_equal(np.concatenate(blocks), images)


def test_row_count_unknown_ahead(tmp_path):
    rows = np.arange(24, dtype=np.float32).reshape(6, 4)
    writer = NpyRowWriter(tmp_path / "x.npy", (4,), np.float32)
    for block in np.split(rows, 3):
        writer.add(block)
    assert writer.close() == 6
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), rows)
    with stream_prepared(tmp_path / "p", (4,), np.float32) as out:
        out.add(rows)
        out.finish(np.zeros(6), pd.DataFrame(index=range(6)), {"modality": "timeseries"})
    assert load_prepared(tmp_path / "p").inputs.shape == (6, 4)
