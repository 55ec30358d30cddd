"""ADFTD: OpenNeuro ds004504, resting-state EEG of Alzheimer's, frontotemporal dementia and controls.

Source: the OpenNeuro S3 bucket (``s3.amazonaws.com/openneuro.org/ds004504``): ``participants.tsv``
(``participant_id``, ``Group`` A/F/C, ...) and the preprocessed recordings
``derivatives/sub-XXX/eeg/sub-XXX_task-eyesclosed_eeg.set`` (EEGLAB, 19 channels, 500 Hz),
listed from the participants table. No checksums are published; the manifest records sha256.

docs/protocol.md §1: group A → 2, F → 1, C → 0; subjects in sorted order (the published code relied on
directory-listing order); each channel interpolated 500 → 256 Hz, cut into non-overlapping 1 s
windows, each window standardised per channel: inputs (N, 19, 256).

Channels are read from every recording by name and stored in one order, the recordings' own
(Fp1, Fp2, F3, F4, C3, C4, P3, P4, O1, O2, F7, F8, T3, T4, T5, T6, Fz, Cz, Pz), which
``info.json`` records; a recording with another channel set stops the preparation, naming it.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fhbench.data import timeseries as ts
from fhbench.data.base import Dataset
from fhbench.data.checks import check_sample_rate, check_table
from fhbench.data.download import RemoteFile
from fhbench.data.file_lists import fetch_listed
from fhbench.data.prepared import stream_prepared

BASE_URL = "https://s3.amazonaws.com/openneuro.org/ds004504"
PARTICIPANTS = "participants.tsv"
GROUP_LABELS = {"C": 0, "F": 1, "A": 2}
CHANNELS = ("Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8", "T3", "T4", "T5", "T6", "Fz", "Cz", "Pz")
TARGET_FS = 256
# The preprocessed recordings' rate as the source states it (ds004504 README; Miltiadous et al.,
# Data 8 (2023) 95: 500 Hz); preparation refuses any other.
SOURCE_FS = 500
# Published figures: 88 subjects (controls 29, FTD 23, Alzheimer's 36) → 69,752 windows.
PUBLISHED = {"subjects": 88, "subjects_per_class": [29, 23, 36], "samples": 69_752}


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

    published = PUBLISHED

    def prepare(self, raw_dir, out_dir) -> None:
        raw_dir = Path(raw_dir)
        participants = read_participants(raw_dir / PARTICIPANTS)
        paths = [raw_dir / recording_path(s) for s in participants["participant_id"]]
        labels, subjects, windows = [], [], []
        with stream_prepared(out_dir, (len(CHANNELS), TARGET_FS), np.float32) as out:
            for i, (row, path) in enumerate(zip(participants.itertuples(), paths), start=1):
                x = subject_windows(path)
                out.add(x, source=path)
                # mne's Raw objects sit in reference cycles: without a collection each subject's
                # samples (tens of MB) stay allocated until the collector happens to run.
                gc.collect()
                labels.append(np.full(len(x), GROUP_LABELS[row.Group]))
                subjects.append(np.full(len(x), row.participant_id))
                windows.append(np.arange(len(x)))
                print(f"adftd: {i}/{len(participants)} subjects, {out.n} windows", file=sys.stderr)
            metadata = pd.DataFrame({"subject": np.concatenate(subjects), "window": np.concatenate(windows)})
            labels = np.concatenate(labels)
            info = {
                **self.base_info(),
                "sample_rate": TARGET_FS,
                "channels": list(CHANNELS),
                "published_figures": self.published_figures(labels, metadata),
            }
            out.finish(labels, metadata, info, record_key=("subject", "window"))

    def published_figures(self, labels, metadata) -> dict:
        from fhbench.data.published import compare_figures, prepared_figures

        found = prepared_figures(labels, metadata, self.n_classes)
        per_subject = pd.Series(labels, index=metadata["subject"]).groupby(level=0).first()
        found["subjects_per_class"] = np.bincount(per_subject.to_numpy(), minlength=self.n_classes).tolist()
        return compare_figures(self.published, found)

    def source_figures(self, raw_dir) -> dict:
        """Subjects, subjects per group and one-second windows, from the table and the EEGLAB headers."""
        raw_dir = Path(raw_dir)
        table = read_participants(raw_dir / PARTICIPANTS)
        groups = table["Group"].map(GROUP_LABELS).to_numpy()
        return {
            "subjects": len(table),
            "subjects_per_class": np.bincount(groups, minlength=self.n_classes).tolist(),
            "samples": sum(window_count(*recording_header(raw_dir / recording_path(s))[1:]) for s in table["participant_id"]),
        }

    def generate_demo(
        self, raw_dir, seed: int = 0, n_per_group: int = 4, seconds: float = 20.0, sfreq: float = SOURCE_FS, signal: float = 1.0
    ) -> None:
        """A small ds004504: ``participants.tsv`` and EEGLAB ``.set`` files written by mne.

        500 Hz, the 19 channels in the recordings' own order, samples in volts (EEGLAB: µV).

        Each group has its own dominant rhythm (controls 10 Hz alpha, FTD 7 Hz, AD 5 Hz) on
        top of noise; the table lists subjects out of order, as a directory listing might.
        ``signal`` scales the rhythm against the noise (below 1: a harder twin; the draw is the same).
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
            data = 20e-6 * (signal * np.sin(2 * np.pi * freq * t + phase) + 0.5 * rng.normal(size=(len(CHANNELS), len(t))))
            info = mne.create_info(list(CHANNELS), sfreq, ch_types="eeg")
            path = raw_dir / recording_path(subject)
            path.parent.mkdir(parents=True, exist_ok=True)
            mne.export.export_raw(str(path), mne.io.RawArray(data, info, verbose="error"), fmt="eeglab", overwrite=True, verbose="error")
            rows.append(
                {
                    "participant_id": subject,
                    "Gender": "MF"[k % 2],
                    "Age": int(rng.integers(55, 80)),
                    "Group": group,
                    "MMSE": int(rng.integers(15, 30)),
                }
            )
        pd.DataFrame(rows).to_csv(raw_dir / PARTICIPANTS, sep="\t", index=False)


def read_participants(path: str | Path) -> pd.DataFrame:
    """The participants table, subjects sorted by id, groups checked."""
    try:
        table = pd.read_csv(path, sep="\t")
        table = table[["participant_id", "Group"]].sort_values("participant_id", kind="stable").reset_index(drop=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    check_table(pd.read_csv(path, sep="\t", usecols=["participant_id"]), path, unique="participant_id")  # a subject listed twice
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


def recording_header(path: Path) -> tuple[list[str], float, int]:
    """Channel names (checked against :data:`CHANNELS`), sampling rate and length of a recording."""
    import mne

    try:
        raw = mne.io.read_raw_eeglab(str(path), preload=False, verbose="error")
    except Exception as exc:  # mne/scipy raise many types for unreadable files
        raise ValueError(f"cannot read EEGLAB recording {path}: {type(exc).__name__}: {exc}") from exc
    check_channels(path, raw.ch_names)
    return list(raw.ch_names), float(raw.info["sfreq"]), int(raw.n_times)


def check_channels(path: Path, names: list[str]) -> None:
    if sorted(names) != sorted(CHANNELS):
        missing, extra = sorted(set(CHANNELS) - set(names)), sorted(set(names) - set(CHANNELS))
        raise ValueError(f"{path}: channels differ from ds004504's 19 ({', '.join(CHANNELS)}): missing {missing}, unexpected {extra}")


def window_count(sfreq: float, n_times: int) -> int:
    """Full 1 s windows of a recording of ``n_times`` samples at ``sfreq`` once interpolated to 256 Hz."""
    return int(np.floor(n_times * TARGET_FS / sfreq)) // TARGET_FS


def subject_windows(path: Path) -> np.ndarray:
    """Standardised 1 s windows (n, 19, 256) of one subject's EEGLAB recording, channels in :data:`CHANNELS` order."""
    import mne

    try:
        raw = mne.io.read_raw_eeglab(str(path), preload=True, verbose="error")
    except Exception as exc:  # mne/scipy raise many types for unreadable files
        raise ValueError(f"cannot read EEGLAB recording {path}: {type(exc).__name__}: {exc}") from exc
    check_channels(path, raw.ch_names)
    check_sample_rate(path, raw.info["sfreq"], (SOURCE_FS,), "ds004504's description (Miltiadous et al., Data 2023)")
    data = raw.get_data(picks=list(CHANNELS))  # by name: the arrays follow CHANNELS whatever the file's order
    x = ts.interpolate(data, raw.info["sfreq"], TARGET_FS)
    return ts.standardised_windows(x, TARGET_FS)


DATASET = ADFTD()
