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


def listed_blobs(mirror) -> list[str]:
    return [e["path"] for e in json.loads((mirror / LISTING).read_text())["tree"] if e["type"] == "blob"]


def test_download_reads_the_listing_then_every_file(acquired):
    root, requested = acquired
    listed = [p for p in listed_blobs(root / "mirror") if p.startswith(f"{RELEASE}/")]
    assert requested[0] == f"/{LISTING}"
    assert sorted(requested[1:]) == sorted(f"/{p}" for p in listed)
    assert len(listed) == 40  # 20 recordings × (.wav + .json)
    for path in listed:
        assert (root / "raw" / path).read_bytes() == (root / "mirror" / path).read_bytes()


def test_duplicate_copies_outside_the_release_are_skipped(acquired):
    """The repository holds the same files under releases/ and Classification/: listed, never fetched."""
    root, requested = acquired
    copies = [p for p in listed_blobs(root / "mirror") if not p.startswith(f"{RELEASE}/")]
    assert {p.split("/")[0] for p in copies} == {"releases", "Classification"}
    assert not [r for r in requested if r.lstrip("/").startswith(("releases", "Classification"))]
    assert not (root / "raw" / "releases").exists() and not (root / "raw" / "Classification").exists()


def test_truncated_listing_is_completed_folder_by_folder(tmp_path, capfd):
    """GitHub's answer marked truncated: the wanted folders are listed one by one over HTTP."""
    from fhbench.data.sprsound import REF, write_tree_listings
    from tests.http_mirror import serve_directory

    dataset = get_dataset("sprsound")
    mirror = tmp_path / "mirror"
    dataset.generate_demo(mirror, n_patients=5, recordings_per_patient=2, events_per_recording=2)
    blobs = listed_blobs(mirror)
    write_tree_listings(mirror, blobs, truncate_after=6)
    assert json.loads((mirror / LISTING).read_text())["truncated"] is True
    with serve_directory(mirror) as (base_url, handler):
        dataset.download(tmp_path / "raw", base_url=base_url, part_dir=tmp_path / "parts")
        requested = [r["path"] for r in handler.requests]
    assert "truncated" in capfd.readouterr().err
    wanted = sorted(p for p in blobs if p.startswith(f"{RELEASE}/"))
    assert len(wanted) == 20
    assert sorted(r.lstrip("/") for r in requested if not r.startswith(("/git-tree", "/git-trees/"))) == wanted
    trees = [r for r in requested if r.startswith("/git-trees/")]
    assert f"/git-trees/{REF}.json" in trees
    # the root, BioCAS2022, train2022_json, train2022_wav, test2022_wav, test2022_json and its two folders
    assert len(trees) == 8, trees
    for path in wanted:
        assert (tmp_path / "raw" / path).read_bytes() == (mirror / path).read_bytes()


def test_truncated_folder_listing_fails_naming_the_folder(tmp_path):
    from fhbench.data.download import DownloadError
    from fhbench.data.sprsound import write_tree_listings
    from tests.http_mirror import serve_directory

    dataset = get_dataset("sprsound")
    mirror = tmp_path / "mirror"
    dataset.generate_demo(mirror, n_patients=2, recordings_per_patient=1, events_per_recording=2)
    write_tree_listings(mirror, listed_blobs(mirror), truncate_after=3)
    for path in (mirror / "git-trees").glob("*.json"):
        answer = json.loads(path.read_text())
        if any(e["path"] == "train2022_wav" for e in answer["tree"]):
            path.write_text(json.dumps({**answer, "truncated": True}))
    with serve_directory(mirror) as (base_url, _):
        with pytest.raises(DownloadError, match=f"folder '{RELEASE}' .*truncated even without recursion"):
            dataset.download(tmp_path / "raw", base_url=base_url, part_dir=tmp_path / "parts")
    assert not list((tmp_path / "raw").rglob("*.wav"))


def test_annotations_with_string_or_integer_milliseconds(tmp_path):
    from fhbench.data.sprsound import read_events

    (tmp_path / "a.json").write_text(
        json.dumps(
            {"event_annotation": [{"start": "342", "end": "2515", "type": "Normal"}, {"start": 2557, "end": 3776, "type": "Stridor"}]}
        )
    )
    assert read_events(tmp_path / "a.json") == [(342.0, 2515.0, 0), (2557.0, 3776.0, 6)]


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
