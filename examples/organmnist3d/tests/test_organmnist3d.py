"""OrganMNIST3D: its twin is served over real HTTP on 127.0.0.1 and goes through the real
download (with checksums), preparation and client split, as the source's file would."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import os
import threading
import zipfile
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from fhbench_organmnist3d.dataset import DATASET, FILENAME, MD5, URL

from fhbench.data.download import DownloadError
from fhbench.data.medmnist_family import POOL_ORDER
from fhbench.data.prepared import load_prepared
from fhbench.partition import partition_prepared

TWIN = {"size": 12, "n_train": 60, "n_val": 20, "n_test": 30, "seed": 3}


@contextmanager
def serve(folder: Path):
    """``folder`` on an HTTP server at 127.0.0.1; yields its base URL and the paths requested."""
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # quiet test output
            pass

        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("served")
    DATASET.generate_demo(folder, **TWIN)
    return folder


def test_the_twin_is_a_file_in_the_sources_format(served):
    with np.load(served / FILENAME) as twin:
        assert sorted(twin.files) == sorted(f"{s}_{kind}" for s in ("train", "val", "test") for kind in ("images", "labels"))
        for split, n in (("train", 60), ("val", 20), ("test", 30)):
            assert twin[f"{split}_images"].shape == (n, 12, 12, 12) and twin[f"{split}_images"].dtype == np.uint8
            assert twin[f"{split}_labels"].shape == (n, 1) and twin[f"{split}_labels"].dtype == np.uint8
            assert twin[f"{split}_labels"].max() < 11
        # The class is in the content: classes 6-8 hold the largest organs, 0-2 the smallest (as many, as bright).
        images, labels = twin["train_images"], twin["train_labels"][:, 0]
        assert images[np.isin(labels, [6, 7, 8])].mean() > images[np.isin(labels, [0, 1, 2])].mean() + 5


def test_download_over_http_prepare_and_split(served, tmp_path):
    mirror_md5 = hashlib.md5((served / FILENAME).read_bytes()).hexdigest()
    with serve(served) as (base_url, requested):
        DATASET.download(tmp_path / "raw", base_url=base_url, part_dir=tmp_path / "parts", checksums={FILENAME: mirror_md5})
    assert [p.split("?")[0] for p in requested] == [f"/{FILENAME}"]
    assert (tmp_path / "raw" / FILENAME).read_bytes() == (served / FILENAME).read_bytes()

    DATASET.prepare(tmp_path / "raw", tmp_path / "prepared")
    prepared = load_prepared(tmp_path / "prepared")
    assert prepared.inputs.shape == (110, 12, 12, 12) and prepared.inputs.dtype == np.uint8
    with np.load(served / FILENAME) as twin:  # pooled train, test, val, in that order, labels with them
        assert np.array_equal(prepared.inputs, np.concatenate([twin[f"{s}_images"] for s in POOL_ORDER]))
        assert np.array_equal(prepared.labels, np.concatenate([twin[f"{s}_labels"][:, 0] for s in POOL_ORDER]))
    assert prepared.metadata["source_split"].value_counts().to_dict() == {"train": 60, "test": 30, "val": 20}
    assert prepared.info["modality"] == "volume" and prepared.info["n_classes"] == 11
    # A twin is not the source: the published counts are compared, and differ.
    assert prepared.info["published_figures"]["samples"] == {"published": 1742, "found": 110, "match": False}

    partition_prepared(tmp_path / "prepared", tmp_path / "split.json", "fhbench", 5, 0.5, 1.0, 2025)
    assert (tmp_path / "split.json").is_file()


def test_the_published_md5_refuses_a_file_that_is_not_the_source(served, tmp_path):
    with serve(served) as (base_url, _), pytest.raises(DownloadError, match="(?i)md5"):
        DATASET.download(tmp_path / "raw", base_url=base_url, part_dir=tmp_path / "parts")
    assert not (tmp_path / "raw" / FILENAME).exists()


def test_a_damaged_archive_is_refused_naming_it(served, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / FILENAME).write_bytes((served / FILENAME).read_bytes()[:5000])
    with pytest.raises(ValueError, match=f"{FILENAME} is not a readable OrganMNIST3D archive"):
        DATASET.prepare(raw, tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_the_source_table_is_medmnists_own():
    if importlib.util.find_spec("medmnist") is None:
        reason = "medmnist is not installed (fhbench's environment has it: pip install --no-deps medmnist)"
        if os.environ.get("CI", "").lower() == "true":  # CI runs every test: a missing package fails
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    from fhbench.data.medmnist_family import medmnist_info

    info = medmnist_info("organmnist3d")
    assert (URL, MD5) == (info["url_64"], info["MD5_64"])
    assert list(DATASET.class_names) == [info["label"][str(i)] for i in range(len(info["label"]))]
    assert DATASET.published == {"samples": sum(info["n_samples"].values()), **{f"{s} samples": n for s, n in info["n_samples"].items()}}


def test_source_figures_and_checksum_rows_read_the_raw_file(served):
    assert DATASET.source_figures(served) == {"samples": 110, "train samples": 60, "val samples": 20, "test samples": 30}
    (row,) = DATASET.published_checksums(served)
    assert row["published"] == MD5 and not row["match"]
    with zipfile.ZipFile(served / FILENAME) as archive:  # an .npz is a zip of .npy files, as the source's
        assert "train_images.npy" in archive.namelist()
