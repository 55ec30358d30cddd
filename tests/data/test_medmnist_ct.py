"""OrganCMNIST and OrganSMNIST (and the shared MedMNIST code) through the real download path."""

from __future__ import annotations

import numpy as np
import pytest

from fhbench.data import get_dataset
from fhbench.data.medmnist_family import medmnist_info
from tests.data.loopback import check_split, loopback_roundtrip


@pytest.mark.parametrize("key", ["organcmnist", "organsmnist"])
def test_remote_files_come_from_medmnist_info(key):
    (remote,) = get_dataset(key).remote_files()
    info = medmnist_info(key)
    assert remote.url == info["url_224"] and remote.md5 == info["MD5_224"]
    assert remote.filename == f"{key}_224.npz"
    assert get_dataset(key).n_classes == len(info["label"]) == 11


@pytest.mark.parametrize("key", ["organcmnist", "organsmnist"])
def test_loopback_download_prepare_partition(key, tmp_path, http_mirror):
    demo = {"n_train": 60, "n_val": 15, "n_test": 25, "seed": 3}
    trip = loopback_roundtrip(key, tmp_path, http_mirror, demo, mirror_checksums=True)
    assert [r["path"] for r in trip.requests] == [f"/{key}_224.npz"]
    archive = np.load(trip.served / f"{key}_224.npz")
    # docs/protocol.md §1: pooled in the order train, test, val.
    expected_images = np.concatenate([archive[f"{s}_images"] for s in ("train", "test", "val")])
    expected_labels = np.concatenate([archive[f"{s}_labels"].ravel() for s in ("train", "test", "val")])
    assert np.array_equal(np.asarray(trip.prepared.inputs), expected_images)
    assert np.array_equal(trip.prepared.labels, expected_labels)
    assert trip.prepared.metadata["source_split"].tolist() == ["train"] * 60 + ["test"] * 25 + ["val"] * 15
    assert trip.prepared.info["dataset"] == key and trip.prepared.info["n_classes"] == 11
    check_split(trip)
