"""ICBHI 2017: demo twin served over loopback HTTP → download → prepare → fhbench partition."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soxr

from fhbench.data import get_dataset
from fhbench.data import respiratory as audio
from fhbench.data.icbhi import ARCHIVE, DEVICE_FORMATS, SPLIT_LIST, UNPACKED, match_split_list
from fhbench.data.prepared import load_prepared
from fhbench.partition import partition_prepared

CLIP_SECONDS = 0.5
CLIP = int(CLIP_SECONDS * 16_000)


@pytest.fixture(scope="module")
def acquired(tmp_path_factory, request):
    """The twin written into a mirror folder, then downloaded from it over HTTP and prepared."""
    from tests.http_mirror import serve_directory

    root = tmp_path_factory.mktemp("icbhi")
    dataset = get_dataset("icbhi")
    dataset.generate_demo(root / "mirror", seed=3, n_patients=6, recordings_per_patient=2, cycles_per_recording=5)
    with serve_directory(root / "mirror") as (base_url, handler):
        dataset.download(root / "raw", base_url=base_url, part_dir=root / "parts")
        requested = [r["path"] for r in handler.requests]
    dataset.prepare(root / "raw", root / "prepared", clip_seconds=CLIP_SECONDS)
    return root, requested


def annotated_cycles(raw: Path) -> list[dict]:
    """Every annotated cycle of the raw folder, in the order prepare pools them."""
    import soundfile as sf

    listed = dict(line.split() for line in (raw / SPLIT_LIST).read_text().splitlines())
    # The twin lists one LittC2SE recording under the Meditron name, as the real list does.
    splits = {**listed, **{k.replace("_Meditron", "_LittC2SE"): v for k, v in listed.items() if k not in stems(raw)}}
    cycles = []
    for wav in sorted((raw / UNPACKED).rglob("*.wav"), key=lambda p: p.name):
        sr, frames = sf.info(str(wav)).samplerate, sf.info(str(wav)).frames
        for start, end, crackle, wheeze in np.loadtxt(wav.with_suffix(".txt"), ndmin=2):
            patient, _, chest, _, device = wav.stem.split("_")
            cycles.append(
                dict(
                    start=start,
                    end=end,
                    sr=sr,
                    frames=frames,
                    label=int(crackle) + 2 * int(wheeze),
                    patient=int(patient),
                    chest=chest,
                    device=device,
                    split=splits[wav.stem],
                )
            )
    return cycles


def stems(raw: Path) -> set[str]:
    return {p.stem for p in (raw / UNPACKED).rglob("*.wav")}


def test_download_goes_through_http_and_unpacks(acquired):
    root, requested = acquired
    assert sorted(requested) == sorted([f"/{ARCHIVE}", f"/{SPLIT_LIST}"])
    assert (root / "raw" / ARCHIVE).is_file()
    assert len(list((root / "raw" / UNPACKED).rglob("*.wav"))) == 12
    assert not list((root / "parts").rglob("*.part"))


def test_labels_and_metadata_follow_the_annotations(acquired):
    root, _ = acquired
    prepared = load_prepared(root / "prepared")
    cycles = annotated_cycles(root / "raw")
    assert prepared.inputs.shape == (len(cycles), CLIP)
    assert prepared.inputs.dtype == np.float32
    np.testing.assert_array_equal(prepared.labels, [c["label"] for c in cycles])
    assert set(prepared.labels) == {0, 1, 2, 3}
    meta = prepared.metadata
    assert meta["patient"].tolist() == [c["patient"] for c in cycles]
    assert meta["device"].tolist() == [c["device"] for c in cycles]
    assert meta["chest_location"].tolist() == [c["chest"] for c in cycles]
    assert meta["source_split"].tolist() == [c["split"] for c in cycles]
    assert set(meta["source_split"]) == {"train", "test"}
    assert prepared.info["sample_rate"] == 16_000
    assert get_dataset("icbhi").natural_groups == ("patient", "device")
    assert set(get_dataset("icbhi").natural_groups) <= set(meta.columns)


def test_clips_are_16khz_faded_and_repeated(acquired):
    root, _ = acquired
    prepared = load_prepared(root / "prepared")
    x = np.asarray(prepared.inputs)
    assert np.all(x[:, 0] == 0), "every clip starts with a fade-in from zero"
    repeated = 0
    for clip, cycle in zip(x, annotated_cycles(root / "raw")):
        # length of the cycle once resampled to 16 kHz
        n_src = min(round(cycle["end"] * cycle["sr"]), cycle["frames"]) - round(cycle["start"] * cycle["sr"])
        n = len(soxr.resample(np.zeros(n_src, dtype=np.float32), cycle["sr"], 16_000))
        span = min(cycle["end"], cycle["frames"] / cycle["sr"]) - cycle["start"]  # the last cycle may be annotated past the end
        assert abs(n - span * 16_000) <= 2 * 16_000 / cycle["sr"] + 2  # start and end each rounded to a source sample
        if n < CLIP:
            repeated += 1
            assert clip[n - 1] == 0, "the cycle is faded out before it repeats"
            stop = min(2 * n, CLIP - audio.FADE_SAMPLES)  # up to the final fade-out
            if stop > n:
                np.testing.assert_allclose(clip[n:stop], clip[: stop - n], rtol=0, atol=1e-6)
            assert clip[-1] == 0, "a repeated clip ends with a fade-out"
        else:
            assert np.abs(clip[-audio.FADE_SAMPLES :]).max() > 0, "a truncated clip is not faded at the cut"
    assert repeated > 0


def test_clip_from_recording_resamples_to_16khz():
    sr = 4000
    t = np.arange(sr) / sr
    signal = np.sin(2 * np.pi * 500 * t).astype(np.float32)  # 1 s of 500 Hz at 4 kHz
    clip = audio.clip_from_recording(signal, sr, 0.25, 0.5, clip_samples=16_000)
    assert clip.shape == (16_000,)
    piece = clip[:4000]  # 0.25 s at 16 kHz
    spectrum = np.abs(np.fft.rfft(piece[1000:3000]))
    assert np.argmax(spectrum) * 16_000 / 2000 == pytest.approx(500, abs=8)
    np.testing.assert_allclose(clip[4000:8000], piece, atol=1e-6)
    np.testing.assert_allclose(clip[:1000], piece[:1000])
    assert piece[0] == 0 and abs(piece[500]) < abs(piece[2000 - 8 : 2000 + 8]).max()


def test_fhbench_partition_on_prepared(acquired, tmp_path):
    root, _ = acquired
    part = partition_prepared(root / "prepared", tmp_path / "fhbench.json", "fhbench", n_clients=5, alpha=0.5, datapercent=1.0, seed=2025)
    labels = np.load(root / "prepared" / "labels.npy")
    per_client = [sum(len(c[s]) for s in ("train", "val", "test")) for c in part.clients]
    assert len(set(per_client)) == 1 and per_client[0] == len(labels) // 5
    every = np.concatenate([c[s] for c in part.clients for s in ("train", "val", "test")])
    assert len(every) == len(set(every.tolist()))
    saved = json.loads((tmp_path / "fhbench.json").read_text())
    assert saved["n_classes"] == 4 and len(saved["clients"]) == 5


def test_truncated_wav_stops_naming_the_file(tmp_path):
    dataset = get_dataset("icbhi")
    dataset.generate_demo(tmp_path / "raw", n_patients=2, recordings_per_patient=1, cycles_per_recording=3)
    wav = sorted((tmp_path / "raw" / UNPACKED).rglob("*.wav"))[1]
    data = wav.read_bytes()
    wav.write_bytes(data[: len(data) - 700])
    with pytest.raises(ValueError, match=wav.name):
        dataset.prepare(tmp_path / "raw", tmp_path / "prepared", clip_seconds=CLIP_SECONDS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"], "no prepared or temporary folder left behind"


def test_twin_classes_are_learnable(acquired):
    from tests.data.signal_checks import held_out_accuracy

    prepared = load_prepared(acquired[0] / "prepared")
    accuracy = held_out_accuracy(prepared.inputs, prepared.labels)
    assert accuracy > 0.8, f"a linear spectral classifier reaches only {accuracy:.2f} on the demo twin"


def test_twin_files_have_the_real_devices_rates_and_sample_formats(acquired):
    """44.1 kHz 24-bit PCM (Meditron, LittC2SE, AKGC417L) and 4 kHz 16-bit (Litt3200), as the real files."""
    import soundfile as sf

    root, _ = acquired
    seen = {}
    for wav in (root / "raw" / UNPACKED).rglob("*.wav"):
        info = sf.info(str(wav))
        seen.setdefault(wav.stem.rsplit("_", 1)[1], set()).add((info.samplerate, info.subtype, info.channels))
    assert seen == {
        "Meditron": {(44_100, "PCM_24", 1)},
        "LittC2SE": {(44_100, "PCM_24", 1)},
        "AKGC417L": {(44_100, "PCM_24", 1)},
        "Litt3200": {(4_000, "PCM_16", 1)},
    }
    assert {d: f for d, f in DEVICE_FORMATS.items()} == {d: (r, t) for d, ((r, t, _),) in seen.items()}


def test_24bit_recording_keeps_its_low_bits(tmp_path):
    """A 24-bit file is read at full precision: a signal below one 16-bit step survives."""
    sr = 44_100
    signal = 1e-5 * np.sin(2 * np.pi * 300 * np.arange(sr) / sr)  # 1e-5 < 2**-15 ≈ 3.1e-5
    audio.write_wav(tmp_path / "quiet.wav", signal, sr, "PCM_24")
    x, got_sr = audio.read_mono(tmp_path / "quiet.wav")
    assert got_sr == sr
    np.testing.assert_allclose(x, signal, atol=2**-23)
    clip = audio.clip_from_recording(x, sr, 0.0, 1.0, 16_000)
    assert 0.5e-5 < np.abs(clip[4000:12000]).max() < 1.5e-5


def test_list_quirk_is_matched_ignoring_the_device_and_reported(acquired):
    """The twin reproduces the real list's quirk: a LittC2SE recording listed as Meditron."""
    root, _ = acquired
    prepared = load_prepared(root / "prepared")
    listed = dict(line.split() for line in (root / "raw" / SPLIT_LIST).read_text().splitlines())
    quirk = prepared.info["split_list"]["matched_ignoring_device"]
    assert len(quirk) == 1
    ((on_disk, name),) = quirk.items()
    assert on_disk.endswith("_LittC2SE") and name == on_disk.replace("_LittC2SE", "_Meditron") and on_disk not in listed
    assert prepared.info["split_list"]["unlisted"] == [] and prepared.info["split_list"]["listed_not_on_disk"] == []
    rows = prepared.metadata[prepared.metadata["recording"] == on_disk]
    assert len(rows) > 0 and set(rows["source_split"]) == {listed[name]}
    assert "unlisted" not in set(prepared.metadata["source_split"])


def test_unlisted_recording_is_named_in_the_log_and_info(tmp_path, capfd):
    dataset = get_dataset("icbhi")
    # Six patients: two listed as test, so the test part keeps one when the first is dropped.
    dataset.generate_demo(tmp_path / "raw", n_patients=6, recordings_per_patient=1, cycles_per_recording=2)
    lines = (tmp_path / "raw" / SPLIT_LIST).read_text().splitlines()
    dropped = lines[0].split()[0]
    (tmp_path / "raw" / SPLIT_LIST).write_text("\n".join(lines[1:]) + "\n")
    dataset.prepare(tmp_path / "raw", tmp_path / "prepared", clip_seconds=CLIP_SECONDS)
    log = capfd.readouterr().err
    prepared = load_prepared(tmp_path / "prepared")
    assert prepared.info["split_list"]["unlisted"] == [dropped]
    assert f"not in {SPLIT_LIST}" in log and dropped in log
    assert "listed as" in log  # the twin's LittC2SE/Meditron entry, reported as such
    assert set(prepared.metadata.loc[prepared.metadata["recording"] == dropped, "source_split"]) == {"unlisted"}


def test_match_split_list_needs_a_single_candidate():
    stems = ["226_1b1_Pl_sc_LittC2SE", "300_1b1_Al_sc_AKGC417L", "300_1b1_Al_sc_Litt3200", "101_1b1_Al_sc_Meditron"]
    listed = {
        "226_1b1_Pl_sc_Meditron": "train",
        "300_1b1_Al_sc_Meditron": "test",
        "101_1b1_Al_sc_Meditron": "test",
        "999_1b1_Al_sc_Meditron": "train",
    }
    got = match_split_list(stems, listed)
    assert got["matched_ignoring_device"] == {"226_1b1_Pl_sc_LittC2SE": "226_1b1_Pl_sc_Meditron"}
    # one listed name, two files that differ from it only by device: which one it meant is unknown
    assert got["unlisted"] == ["300_1b1_Al_sc_AKGC417L", "300_1b1_Al_sc_Litt3200"]
    assert got["splits"]["300_1b1_Al_sc_AKGC417L"] == "unlisted" and got["splits"]["101_1b1_Al_sc_Meditron"] == "test"
    assert got["listed_not_on_disk"] == ["300_1b1_Al_sc_Meditron", "999_1b1_Al_sc_Meditron"]


def test_annotation_with_crlf_line_endings(tmp_path):
    from fhbench.data.icbhi import read_annotation

    (tmp_path / "a.txt").write_bytes(b"0.036\t0.579\t0\t0\r\n0.579\t2.45\t1\t0\r\n")
    np.testing.assert_allclose(read_annotation(tmp_path / "a.txt"), [[0.036, 0.579, 0, 0], [0.579, 2.45, 1, 0]])
