"""PubMed 200k RCT: demo twin over loopback HTTP → download → prepare (7z unpacked) → partition."""

from __future__ import annotations

import numpy as np
import pytest

from fhbench.data import get_dataset
from fhbench.data.download import DownloadError
from fhbench.data.pubmedrct import CLASS_NAMES
from tests.data.loopback import check_split, loopback_roundtrip


def read_sentences(path):
    """Independent reading of the source format for the test: (abstract, label, text) per sentence."""
    out, abstract = [], None
    for line in path.read_text().splitlines():
        if line.startswith("###"):
            abstract = line[3:]
        elif line.strip():
            label, text = line.split("\t", 1)
            out.append((abstract, label, text))
    return out


def test_remote_files_and_label_order():
    urls = [r.url for r in get_dataset("pubmedrct").remote_files()]
    base = "https://raw.githubusercontent.com/Franck-Dernoncourt/pubmed-rct/master/PubMed_200k_RCT"
    assert urls == [f"{base}/train.7z", f"{base}/dev.txt", f"{base}/test.txt"]
    assert CLASS_NAMES == tuple(sorted(CLASS_NAMES)) == ("BACKGROUND", "CONCLUSIONS", "METHODS", "OBJECTIVE", "RESULTS")


def test_loopback_download_prepare_partition(tmp_path, http_mirror):
    import py7zr

    trip = loopback_roundtrip("pubmedrct", tmp_path, http_mirror, {"n_train": 12, "n_dev": 4, "n_test": 6, "seed": 2})
    assert sorted(r["path"] for r in trip.requests) == ["/dev.txt", "/test.txt", "/train.7z"]
    with py7zr.SevenZipFile(trip.served / "train.7z") as archive:
        archive.extractall(tmp_path / "check")
    train = read_sentences(tmp_path / "check" / "train.txt")
    test = read_sentences(trip.served / "test.txt")
    dev = read_sentences(trip.served / "dev.txt")
    expected = train + test  # dev unused
    assert len(trip.prepared) == len(expected)
    label_of = {name: i for i, name in enumerate(sorted(CLASS_NAMES))}
    assert trip.prepared.labels.tolist() == [label_of[label] for _, label, _ in expected]
    texts = trip.prepared.inputs[np.arange(len(expected))]
    assert texts.tolist() == [text.lower() for _, _, text in expected]
    assert all(t == t.lower() for t in texts) and any(t != t.lower() for _, _, t in expected)
    meta = trip.prepared.metadata
    assert meta["source_split"].tolist() == ["train"] * len(train) + ["test"] * len(test)
    assert set(meta["abstract_id"].astype(str)).isdisjoint({a for a, _, _ in dev})
    assert (meta["sentence"] == 0).sum() == 12 + 6  # one first sentence per abstract
    # Nothing of the unpacked archive is left beside the prepared folder.
    assert sorted(p.name for p in trip.prepared_dir.parent.iterdir() if p.name.startswith(".pubmedrct")) == []
    check_split(trip)


def test_truncated_train_archive_names_the_file(tmp_path):
    dataset = get_dataset("pubmedrct")
    dataset.generate_demo(tmp_path / "raw", n_train=30, n_dev=2, n_test=2)
    archive = tmp_path / "raw" / "train.7z"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DownloadError, match=f"cannot unpack {archive}"):
        dataset.prepare(tmp_path / "raw", tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_malformed_line_names_file_and_line(tmp_path):
    dataset = get_dataset("pubmedrct")
    dataset.generate_demo(tmp_path / "raw", n_train=3, n_dev=1, n_test=2)
    test_txt = tmp_path / "raw" / "test.txt"
    lines = test_txt.read_text().splitlines()
    lines[2] = "RESULT\tno such label"
    test_txt.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"test.txt:3: expected"):
        dataset.prepare(tmp_path / "raw", tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_demo_twin_is_byte_identical_for_a_seed(tmp_path):
    dataset = get_dataset("pubmedrct")
    for name in ("a", "b"):
        dataset.generate_demo(tmp_path / name, n_train=3, n_dev=1, n_test=1, seed=5)
    for f in ("train.7z", "dev.txt", "test.txt"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
