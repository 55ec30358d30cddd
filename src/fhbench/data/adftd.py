"""ADFTD: OpenNeuro ds004504, resting-state EEG of Alzheimer's, frontotemporal dementia and controls.

Source: the OpenNeuro S3 bucket (``s3.amazonaws.com/openneuro.org/ds004504``): ``participants.tsv``
(``participant_id``, ``Group`` A/F/C, ...) and the preprocessed recordings
``derivatives/sub-XXX/eeg/sub-XXX_task-eyesclosed_eeg.set`` (EEGLAB, 19 channels, 500 Hz),
listed from the participants table. No checksums are published; the manifest records sha256.

docs/protocol.md §1: group A → 2, F → 1, C → 0; subjects in sorted order (the published code relied on
directory-listing order); each channel interpolated 500 → 256 Hz, cut into non-overlapping 1 s
windows, each window standardised per channel: inputs (N, 19, 256).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fhbench.data import timeseries as ts
from fhbench.data.base import Dataset
from fhbench.data.download import RemoteFile
from fhbench.data.file_lists import fetch_listed
from fhbench.data.prepared import write_prepared

BASE_URL = "https://s3.amazonaws.com/openneuro.org/ds004504"
PARTICIPANTS = "participants.tsv"
GROUP_LABELS = {"C": 0, "F": 1, "A": 2}
CHANNELS = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5", "P3", "Pz", "P4", "T6", "O1", "O2")
TARGET_FS = 256


def recording_path(subject: str) -> str:
    return f"derivatives/{subject}/eeg/{subject}_task-eyesclosed_eeg.set"


class ADFTD(Dataset):
    key = "adftd"
    modality = "timeseries"
    class_names = ("control", "frontotemporal_dementia", "alzheimers")
    natural_groups = ("subject",)

    def remote_files(self) -> list[RemoteFile]:
        """The participants table; :meth:`download` lists the recordings from it."""
        return [RemoteFile(f"{BASE_URL}/{PARTICIPANTS}", PARTICIPANTS)]

    def download(self, raw_dir, base_url=None, part_dir=None, workers: int = 4) -> list[Path]:
        (table,) = super().download(raw_dir, base_url=base_url, part_dir=part_dir)
        files = [recording_path(s) for s in read_participants(table)["participant_id"]]
        remotes = [RemoteFile(f"{BASE_URL}/{f}", f).rebased(base_url) for f in files]
        sets = fetch_listed(remotes, raw_dir, part_dir, workers, label=self.key)
        # EEGLAB keeps the samples either inside the .set or in a .fdt beside it; fetch the
        # .fdt of every recording whose .set points to one.
        fdts = [str(Path(f).with_suffix(".fdt")) for f, path in zip(files, sets) if needs_fdt(path)]
        extra = [RemoteFile(f"{BASE_URL}/{f}", f).rebased(base_url) for f in fdts]
        return [table] + sets + fetch_listed(extra, raw_dir, part_dir, workers, label=f"{self.key} .fdt")

    def prepare(self, raw_dir, out_dir) -> None:
        raw_dir = Path(raw_dir)
        participants = read_participants(raw_dir / PARTICIPANTS)
        parts, labels, subjects = [], [], []
        for i, row in enumerate(participants.itertuples(), start=1):
            x = subject_windows(raw_dir / recording_path(row.participant_id))
            parts.append(x)
            labels.append(np.full(len(x), GROUP_LABELS[row.Group]))
            subjects.append(np.full(len(x), row.participant_id))
            print(f"adftd: {i}/{len(participants)} subjects, {sum(len(p) for p in parts)} windows", file=sys.stderr)
        metadata = pd.DataFrame({"subject": np.concatenate(subjects), "window": np.concatenate([np.arange(len(p)) for p in parts])})
        info = {
            **self.base_info(),
            "sample_rate": TARGET_FS,
            "channels": list(CHANNELS),
        }
        write_prepared(out_dir, np.concatenate(parts), np.concatenate(labels), metadata, info)

    def generate_demo(self, raw_dir, seed: int = 0, n_per_group: int = 4, seconds: float = 20.0, sfreq: float = 500.0) -> None:
        """A small ds004504: ``participants.tsv`` and EEGLAB ``.set`` files written by mne.

        Each group has its own dominant rhythm (controls 10 Hz alpha, FTD 7 Hz, AD 5 Hz) on
        top of noise; the table lists subjects out of order, as a directory listing might.
        """
        import mne

        rng = np.random.default_rng(seed)
        raw_dir = Path(raw_dir)
        groups = [g for g in "ACF" for _ in range(n_per_group)]
        order = rng.permutation(len(groups))
        rows = []
        t = np.arange(int(seconds * sfreq)) / sfreq
        for k, i in enumerate(order):
            subject, group = f"sub-{i + 1:03d}", groups[i]
            freq = {"C": 10.0, "F": 7.0, "A": 5.0}[group]
            phase = rng.uniform(0, 2 * np.pi, size=(len(CHANNELS), 1))
            data = 20e-6 * (np.sin(2 * np.pi * freq * t + phase) + 0.5 * rng.normal(size=(len(CHANNELS), len(t))))
            info = mne.create_info(list(CHANNELS), sfreq, ch_types="eeg")
            path = raw_dir / recording_path(subject)
            path.parent.mkdir(parents=True, exist_ok=True)
            mne.export.export_raw(str(path), mne.io.RawArray(data, info, verbose="error"), fmt="eeglab", overwrite=True, verbose="error")
            rows.append({"participant_id": subject, "Gender": "MF"[k % 2], "Age": int(rng.integers(55, 80)), "Group": group, "MMSE": int(rng.integers(15, 30))})
        pd.DataFrame(rows).to_csv(raw_dir / PARTICIPANTS, sep="\t", index=False)


def read_participants(path: str | Path) -> pd.DataFrame:
    """The participants table, subjects sorted by id, groups checked."""
    try:
        table = pd.read_csv(path, sep="\t")
        table = table[["participant_id", "Group"]].sort_values("participant_id", kind="stable").reset_index(drop=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    bad = sorted(set(table["Group"]) - set(GROUP_LABELS))
    if bad:
        raise ValueError(f"{path}: unknown Group values {bad}; expected {sorted(GROUP_LABELS)}")
    return table


def needs_fdt(set_path: Path) -> bool:
    """Whether an EEGLAB ``.set`` keeps its samples in a separate ``.fdt`` that is not there yet."""
    import mne

    try:
        mne.io.read_raw_eeglab(str(set_path), preload=False, verbose="error")
    except FileNotFoundError as exc:
        if ".fdt" in str(exc):
            return True
        raise
    except Exception as exc:  # an unreadable header: say which file
        raise ValueError(f"cannot read EEGLAB header {set_path}: {type(exc).__name__}: {exc}") from exc
    return False


def subject_windows(path: Path) -> np.ndarray:
    """Standardised 1 s windows (n, 19, 256) of one subject's EEGLAB recording."""
    import mne

    try:
        raw = mne.io.read_raw_eeglab(str(path), preload=True, verbose="error")
    except Exception as exc:  # mne/scipy raise many types for unreadable files
        raise ValueError(f"cannot read EEGLAB recording {path}: {type(exc).__name__}: {exc}") from exc
    if len(raw.ch_names) != len(CHANNELS):
        raise ValueError(f"{path}: expected {len(CHANNELS)} channels, got {len(raw.ch_names)}")
    x = ts.interpolate(raw.get_data(), raw.info["sfreq"], TARGET_FS)
    return ts.standardised_windows(x, TARGET_FS)


DATASET = ADFTD()
