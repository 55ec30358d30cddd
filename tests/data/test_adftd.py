"""ADFTD (OpenNeuro ds004504): demo twin over loopback HTTP → download → prepare → partition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fhbench.data import get_dataset
from fhbench.data.adftd import PARTICIPANTS, recording_path
from fhbench.data.prepared import load_prepared
from fhbench.partition import partition_prepared

SECONDS = 12


@pytest.fixture(scope="module")
def acquired(tmp_path_factory):
    from tests.http_mirror import serve_directory

    root = tmp_path_factory.mktemp("adftd")
    dataset = get_dataset("adftd")
    dataset.generate_demo(root / "mirror", seed=4, n_per_group=3, seconds=SECONDS + 0.5)
    with serve_directory(root / "mirror") as (base_url, handler):
        dataset.download(root / "raw", base_url=base_url, part_dir=root / "parts")
        requested = [r["path"] for r in handler.requests]
    dataset.prepare(root / "raw", root / "prepared")
    return root, requested


def test_download_lists_recordings_from_participants(acquired):
    root, requested = acquired
    table = pd.read_csv(root / "mirror" / PARTICIPANTS, sep="\t")
    assert requested[0] == f"/{PARTICIPANTS}"
    assert sorted(requested[1:]) == sorted(f"/{recording_path(s)}" for s in table["participant_id"])
    assert requested[1].endswith("_task-eyesclosed_eeg.set") and "/derivatives/sub-" in requested[1]


def test_subjects_sorted_and_groups_mapped(acquired):
    root, _ = acquired
    table = pd.read_csv(root / "raw" / PARTICIPANTS, sep="\t")
    assert table["participant_id"].tolist() != sorted(table["participant_id"]), "the twin lists subjects out of order"
    prepared = load_prepared(root / "prepared")
    subjects = sorted(table["participant_id"])
    windows = int(SECONDS * 256 + 0.5 * 256) // 256  # 12.5 s at 256 Hz → 12 full windows
    assert prepared.inputs.shape == (len(subjects) * windows, 19, 256)
    assert prepared.metadata["subject"].tolist() == [s for s in subjects for _ in range(windows)]
    group = dict(zip(table["participant_id"], table["Group"]))
    expected = [{"A": 2, "F": 1, "C": 0}[group[s]] for s in subjects for _ in range(windows)]
    np.testing.assert_array_equal(prepared.labels, expected)
    assert prepared.info["class_names"][2] == "alzheimers"
    assert set(get_dataset("adftd").natural_groups) <= set(prepared.metadata.columns)


def test_windows_are_one_second_at_256_hz_and_standardised(acquired):
    root, _ = acquired
    prepared = load_prepared(root / "prepared")
    x = np.asarray(prepared.inputs, dtype=np.float64)
    np.testing.assert_allclose(x.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=-1), 1, atol=1e-4)
    # the twin's dominant rhythm per group (C 10 Hz, F 7 Hz, A 5 Hz) sits at FFT bin f of a 1 s window
    for label, freq in ((0, 10), (1, 7), (2, 5)):
        spectrum = np.abs(np.fft.rfft(x[prepared.labels == label], axis=-1)).mean(axis=(0, 1))
        assert np.argmax(spectrum) == freq


def test_fhbench_partition_on_prepared(acquired, tmp_path):
    root, _ = acquired
    part = partition_prepared(root / "prepared", tmp_path / "fhbench.json", "fhbench", n_clients=20, alpha=0.1, datapercent=1.0, seed=2025)
    n = len(np.load(root / "prepared" / "labels.npy"))
    sizes = {sum(len(c[s]) for s in ("train", "val", "test")) for c in part.clients}
    assert sizes == {n // 20}


def test_unreadable_recording_stops_naming_the_file(tmp_path):
    dataset = get_dataset("adftd")
    dataset.generate_demo(tmp_path / "raw", n_per_group=1, seconds=3)
    path = tmp_path / "raw" / recording_path("sub-002")
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="sub-002_task-eyesclosed_eeg.set"):
        dataset.prepare(tmp_path / "raw", tmp_path / "prepared")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def split_into_set_and_fdt(set_path):
    """Rewrite an EEGLAB file the other way EEGLAB saves it: header .set + samples in a .fdt."""
    import scipy.io as sio

    mat = {k: v for k, v in sio.loadmat(str(set_path), appendmat=False).items() if not k.startswith("__")}
    fdt = set_path.with_suffix(".fdt")
    mat["data"].T.astype("<f4").tofile(fdt)  # channels vary fastest, as EEGLAB writes them
    mat["data"] = fdt.name
    sio.savemat(str(set_path), mat, appendmat=False)


def test_recordings_with_a_separate_fdt_are_fetched_whole(tmp_path):
    from tests.http_mirror import serve_directory

    dataset = get_dataset("adftd")
    dataset.generate_demo(tmp_path / "mirror", n_per_group=1, seconds=3)
    dataset.prepare(tmp_path / "mirror", tmp_path / "embedded")
    split_into_set_and_fdt(tmp_path / "mirror" / recording_path("sub-002"))
    with serve_directory(tmp_path / "mirror") as (base_url, handler):
        dataset.download(tmp_path / "raw", base_url=base_url, part_dir=tmp_path / "parts")
        requested = [r["path"] for r in handler.requests]
    assert requested[-1] == "/" + recording_path("sub-002").replace(".set", ".fdt")
    assert sum(p.endswith(".fdt") for p in requested) == 1
    dataset.prepare(tmp_path / "raw", tmp_path / "prepared")
    np.testing.assert_allclose(load_prepared(tmp_path / "prepared").inputs, load_prepared(tmp_path / "embedded").inputs, atol=1e-5)


def test_twin_classes_are_learnable(acquired):
    from tests.data.signal_checks import held_out_accuracy

    prepared = load_prepared(acquired[0] / "prepared")
    accuracy = held_out_accuracy(prepared.inputs, prepared.labels)
    assert accuracy > 0.8, f"a linear spectral classifier reaches only {accuracy:.2f} on the demo twin"


def rewrite_recording(path, order=None, rename=None) -> None:
    """Export a recording again with its channels reordered and/or renamed (EEGLAB via mne)."""
    import mne

    raw = mne.io.read_raw_eeglab(str(path), preload=True, verbose="error")
    if order is not None:
        raw.reorder_channels([raw.ch_names[i] for i in order])
    if rename:
        raw.rename_channels(rename)
    mne.export.export_raw(str(path), raw, fmt="eeglab", overwrite=True, verbose="error")


def test_twin_channels_are_the_real_order_and_info_follows_the_arrays(acquired):
    import mne

    from fhbench.data.adftd import CHANNELS

    root, _ = acquired
    real = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8", "T3", "T4", "T5", "T6", "Fz", "Cz", "Pz"]
    assert list(CHANNELS) == real
    for path in (root / "raw" / "derivatives").rglob("*.set"):
        assert mne.io.read_raw_eeglab(str(path), preload=False, verbose="error").ch_names == real
    assert load_prepared(root / "prepared").info["channels"] == real


def test_recording_in_another_channel_order_is_read_by_name(tmp_path):
    dataset = get_dataset("adftd")
    dataset.generate_demo(tmp_path / "raw", n_per_group=1, seconds=3)
    dataset.prepare(tmp_path / "raw", tmp_path / "before")
    rewrite_recording(tmp_path / "raw" / recording_path("sub-002"), order=list(range(19))[::-1])
    dataset.prepare(tmp_path / "raw", tmp_path / "after")
    np.testing.assert_allclose(load_prepared(tmp_path / "after").inputs, load_prepared(tmp_path / "before").inputs, atol=1e-4)


def test_recording_with_another_channel_set_stops_naming_it(tmp_path):
    dataset = get_dataset("adftd")
    dataset.generate_demo(tmp_path / "raw", n_per_group=1, seconds=3)
    rewrite_recording(tmp_path / "raw" / recording_path("sub-003"), rename={"Pz": "POz"})
    with pytest.raises(ValueError, match=r"sub-003_task-eyesclosed_eeg.set: channels differ .*missing \['Pz'\], unexpected \['POz'\]"):
        dataset.prepare(tmp_path / "raw", tmp_path / "prepared")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]
