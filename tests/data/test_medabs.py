"""Medical Abstracts: demo twin over loopback HTTP → download → prepare → partition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fhbench.data import get_dataset
from fhbench.data.prepared import TextArray
from tests.data.loopback import check_split, loopback_roundtrip


def test_remote_files_are_the_github_csvs():
    urls = [r.url for r in get_dataset("medabs").remote_files()]
    assert urls == [
        "https://raw.githubusercontent.com/sebischair/Medical-Abstracts-TC-Corpus/main/medical_tc_train.csv",
        "https://raw.githubusercontent.com/sebischair/Medical-Abstracts-TC-Corpus/main/medical_tc_test.csv",
    ]


def test_loopback_download_prepare_partition(tmp_path, http_mirror):
    trip = loopback_roundtrip("medabs", tmp_path, http_mirror, {"n_train": 80, "n_test": 30, "seed": 1})
    assert sorted(r["path"] for r in trip.requests) == ["/medical_tc_test.csv", "/medical_tc_train.csv"]
    train = pd.read_csv(trip.served / "medical_tc_train.csv")
    test = pd.read_csv(trip.served / "medical_tc_test.csv")
    # docs/protocol.md §1: label = condition_label - 1, train then test, text unchanged.
    assert np.array_equal(trip.prepared.labels, np.concatenate([train.condition_label, test.condition_label]) - 1)
    assert trip.prepared.labels.min() == 0 and trip.prepared.labels.max() == 4
    texts = trip.prepared.inputs
    assert isinstance(texts, TextArray) and len(texts) == 110
    assert texts[0] == train.medical_abstract[0] and texts[80] == test.medical_abstract[0]
    assert texts[np.array([1, 81])].tolist() == [train.medical_abstract[1], test.medical_abstract[1]]
    assert trip.prepared.metadata["source_split"].tolist() == ["train"] * 80 + ["test"] * 30
    assert trip.prepared.info["modality"] == "text"
    check_split(trip)


def test_bad_label_names_the_file(tmp_path):
    dataset = get_dataset("medabs")
    dataset.generate_demo(tmp_path / "raw", n_train=10, n_test=5)
    frame = pd.read_csv(tmp_path / "raw" / "medical_tc_test.csv")
    frame.loc[2, "condition_label"] = 6
    frame.to_csv(tmp_path / "raw" / "medical_tc_test.csv", index=False)
    with pytest.raises(ValueError, match=r"medical_tc_test.csv: condition_label values \[6\]"):
        dataset.prepare(tmp_path / "raw", tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()
