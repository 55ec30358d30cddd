"""SPRSound: demo twin served over loopback HTTP → download → prepare → fhbench partition."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fhbench.data import get_dataset
from fhbench.data import respiratory as audio
from fhbench.data.prepared import load_prepared
from fhbench.data.sprsound import CLASSES, LISTING, PARTS, RELEASE
from fhbench.partition import partition_prepared

CLIP_SECONDS = 1.0


@pytest.fixture(scope="module")
def acquired(tmp_path_factory):
    from tests.http_mirror import serve_directory

    root = tmp_path_factory.mktemp("sprsound")
    dataset = get_dataset("sprsound")
    dataset.generate_demo(root / "mirror", seed=1, n_patients=10, recordings_per_patient=2, events_per_recording=5)
    with serve_directory(root / "mirror") as (base_url, handler):
        dataset.download(root / "raw", base_url=base_url, part_dir=root / "parts")
        requested = [r["path"] for r in handler.requests]
    dataset.prepare(root / "raw", root / "prepared", clip_seconds=CLIP_SECONDS)
    return root, requested


def test_download_reads_the_listing_then_every_file(acquired):
    root, requested = acquired
    listed = [e["path"] for e in json.loads((root / "mirror" / LISTING).read_text())["tree"]]
    assert requested[0] == f"/{LISTING}"
    assert sorted(requested[1:]) == sorted(f"/{p}" for p in listed)
    assert len(listed) == 40  # 20 recordings × (.wav + .json)
    for path in listed:
        assert (root / "raw" / path).read_bytes() == (root / "mirror" / path).read_bytes()


def test_labels_follow_the_event_annotations(acquired):
    root, _ = acquired
    prepared = load_prepared(root / "prepared")
    expected, patients, splits = [], [], []
    for split, ann_dir, _ in PARTS:
        for ann in sorted((root / "raw" / RELEASE / ann_dir).glob("*.json")):
            for event in json.loads(ann.read_text())["event_annotation"]:
                expected.append(CLASSES.index(event["type"]))
                patients.append(int(ann.stem.split("_")[0]))
                splits.append(split)
    assert prepared.inputs.shape == (len(expected), 16_000)
    np.testing.assert_array_equal(prepared.labels, expected)
    assert prepared.metadata["patient"].tolist() == patients
    assert prepared.metadata["source_split"].tolist() == splits
    assert {"train", "inter_test", "intra_test"} == set(splits)
    assert prepared.info["class_names"] == list(CLASSES) and CLASSES[4] == "Wheeze+Crackle" and CLASSES[6] == "Stridor"
    assert set(get_dataset("sprsound").natural_groups) <= set(prepared.metadata.columns)


def test_events_become_faded_16khz_clips(acquired):
    root, _ = acquired
    prepared = load_prepared(root / "prepared")
    x = np.asarray(prepared.inputs)
    meta = prepared.metadata
    assert np.all(x[:, 0] == 0)
    # events are 0.4-1.0 s (at 8 kHz), so each clip ends either truncated or faded out
    short = ((meta["end_ms"] - meta["start_ms"]) / 1000 * 16_000 < 16_000 - 2).to_numpy()
    assert short.any()
    assert np.all(x[short, -1] == 0)
    # a Stridor event carries its 1,200 Hz tone at 16 kHz
    stridor = x[prepared.labels == CLASSES.index("Stridor")][0][audio.FADE_SAMPLES : audio.FADE_SAMPLES + 4000]
    peak = np.argmax(np.abs(np.fft.rfft(stridor))) * 16_000 / len(stridor)
    assert peak == pytest.approx(1200, abs=10)


def test_fhbench_partition_on_prepared(acquired, tmp_path):
    root, _ = acquired
    part = partition_prepared(root / "prepared", tmp_path / "fhbench.json", "fhbench", n_clients=20, alpha=0.1, datapercent=1.0, seed=2025)
    n = len(np.load(root / "prepared" / "labels.npy"))
    assert len(part.clients) == 20
    assert all(sum(len(c[s]) for s in ("train", "val", "test")) == n // 20 for c in part.clients)


def test_truncated_wav_stops_naming_the_file(tmp_path):
    dataset = get_dataset("sprsound")
    dataset.generate_demo(tmp_path / "raw", n_patients=2, recordings_per_patient=1, events_per_recording=2)
    wav = sorted((tmp_path / "raw").rglob("*.wav"))[0]
    wav.write_bytes(wav.read_bytes()[:-301])
    with pytest.raises(ValueError, match="truncated") as error:
        dataset.prepare(tmp_path / "raw", tmp_path / "prepared", clip_seconds=CLIP_SECONDS)
    assert str(wav) in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_failed_acquisition_resumes_from_staged_files(tmp_path):
    """A file missing on the server fails the job; the retry fetches only what is still missing."""
    import shutil

    from fhbench.data.download import DownloadError
    from tests.http_mirror import serve_directory

    dataset = get_dataset("sprsound")
    dataset.generate_demo(tmp_path / "mirror", n_patients=3, recordings_per_patient=2, events_per_recording=2)
    missing = sorted((tmp_path / "mirror").rglob("*.wav"))[2]
    missing.rename(tmp_path / "held_back.wav")
    with serve_directory(tmp_path / "mirror") as (base_url, handler):
        with pytest.raises(DownloadError, match=missing.name):
            dataset.download(tmp_path / "raw", base_url=base_url, part_dir=tmp_path / "parts")
        shutil.rmtree(tmp_path / "raw")  # what Snakemake does with a failed job's output folder
        (tmp_path / "held_back.wav").rename(missing)
        handler.requests.clear()
        dataset.download(tmp_path / "raw", base_url=base_url, part_dir=tmp_path / "parts")
        second = sorted(r["path"] for r in handler.requests)
    assert second == sorted([f"/{LISTING}", "/" + missing.relative_to(tmp_path / "mirror").as_posix()])
    assert len(list((tmp_path / "raw").rglob("*.wav"))) == 6
    assert not list((tmp_path / "parts").rglob("*.wav")), "staged files moved into the raw folder"


def test_twin_classes_are_learnable(acquired):
    from tests.data.signal_checks import held_out_accuracy

    prepared = load_prepared(acquired[0] / "prepared")
    accuracy = held_out_accuracy(prepared.inputs, prepared.labels)
    assert accuracy > 0.8, f"a linear spectral classifier reaches only {accuracy:.2f} on the demo twin"
