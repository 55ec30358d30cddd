"""ICBHI 2017 Respiratory Sound Database: 920 recordings, 126 patients, 6,898 cycles, 4 classes.

Source: the ICBHI 2017 challenge site (``ICBHI_final_database.zip``, one ``.wav`` and one
``.txt`` per recording; the ``.txt`` holds one line per respiratory cycle: start s, end s,
crackles 0/1, wheezes 0/1) and the official train/test list ``ICBHI_challenge_train_test.txt``.
No checksums are published; :func:`fhbench.data.base.write_manifest` records sha256.

Recording names are ``<patient>_<index>_<chest location>_<acquisition mode>_<device>``.
Label per cycle (docs/protocol.md §1): 0 neither, 1 crackles only, 2 wheezes only, 3 both.

The official list names one recording with another device than the file on disk
(``226_1b1_Pl_sc_Meditron`` listed, ``226_1b1_Pl_sc_LittC2SE`` shipped): a recording missing from
the list takes the split of the one listed entry with the same patient, index, location and
mode; what was matched that way, and what stays unlisted, is printed and kept in ``info.json``.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from fhbench.data import respiratory as audio
from fhbench.data.base import Dataset
from fhbench.data.checks import check_sample_rate, check_table
from fhbench.data.download import RemoteFile, extract_archive
from fhbench.data.prepared import stream_prepared

BASE_URL = "https://bhichallenge.med.auth.gr/sites/default/files/ICBHI_final_database"
ARCHIVE = "ICBHI_final_database.zip"
SPLIT_LIST = "ICBHI_challenge_train_test.txt"
UNPACKED = "unpacked"  # the archive's contents, unpacked atomically next to it

# The devices' sampling rates and sample formats in the real files; the demo twin writes the same.
DEVICE_FORMATS = {
    "Meditron": (44_100, "PCM_24"),
    "LittC2SE": (44_100, "PCM_24"),
    "Litt3200": (4_000, "PCM_16"),
    "AKGC417L": (44_100, "PCM_24"),
}
# The sampling rates the ICBHI 2017 database description states for its recordings (Rocha et al.,
# Physiol. Meas. 40 (2019) 035001: 4 kHz, 10 kHz and 44.1 kHz); preparation refuses any other.
SOURCE_RATES = (4_000, 10_000, 44_100)
CRACKLE_HZ = 1_200  # below the 2 kHz Nyquist limit of the 4 kHz Litt3200 files
# Published figures (PROTOCOL §1 and the source's own counts), checked by `fhbench verify-source`.
PUBLISHED = {"recordings": 920, "patients": 126, "samples": 6_898, "class_counts": [3_642, 1_864, 886, 506]}
CHEST_LOCATIONS = ("Tc", "Al", "Ar", "Pl", "Pr", "Ll", "Lr")


class ICBHI(Dataset):
    key = "icbhi"
    modality = "audio"
    class_names = ("normal", "crackle", "wheeze", "both")
    natural_groups = ("patient", "device")

    def remote_files(self) -> list[RemoteFile]:
        return [RemoteFile(f"{BASE_URL}/{ARCHIVE}", ARCHIVE), RemoteFile(f"{BASE_URL}/{SPLIT_LIST}", SPLIT_LIST)]

    published = PUBLISHED

    def download(self, raw_dir, base_url=None, part_dir=None) -> list[Path]:
        paths = super().download(raw_dir, base_url=base_url, part_dir=part_dir)
        unpack(raw_dir)
        return paths

    def prepare(self, raw_dir, out_dir, clip_seconds: float = audio.DEFAULT_CLIP_SECONDS) -> None:
        """Cut every annotated cycle into a fixed-length 16 kHz clip; inputs (N, clip samples)."""
        raw_dir = Path(raw_dir)
        clip = audio.clip_samples_for(clip_seconds)
        root = raw_dir / UNPACKED
        wavs = sorted(root.rglob("*.wav"), key=lambda p: p.name)
        if not wavs:
            raise FileNotFoundError(f"no .wav recordings under {root}; acquire the dataset first")
        check_table(pd.DataFrame({"recording": [w.stem for w in wavs]}), root, unique="recording", header_lines=0)
        listing = match_split_list([w.stem for w in wavs], read_split_list(raw_dir / SPLIT_LIST))
        report_split_list(listing)
        annotations = [read_annotation(wav.with_suffix(".txt")) for wav in wavs]
        labels, rows = [], []
        with stream_prepared(out_dir, (clip,), np.float32, sum(len(a) for a in annotations)) as out:
            for i, (wav, cycles) in enumerate(zip(wavs, annotations), start=1):
                patient, _, chest, mode, device = parse_name(wav)
                signal, sr = audio.read_mono(wav)
                check_sample_rate(wav, sr, SOURCE_RATES, "the ICBHI 2017 database description (Rocha et al., 2019)")
                for start, end, crackle, wheeze in cycles:
                    x = audio.clip_from_recording(signal, sr, start, end, clip)
                    if x is None:  # a cycle annotated past the end of its recording
                        continue
                    out.add(x, source=wav)
                    labels.append(int(crackle) + 2 * int(wheeze))
                    rows.append(
                        {
                            "patient": patient,
                            "recording": wav.stem,
                            "device": device,
                            "chest_location": chest,
                            "acquisition_mode": mode,
                            "source_split": listing["splits"][wav.stem],
                            "start_s": start,
                            "end_s": end,
                        }
                    )
                if i % max(1, len(wavs) // 20) == 0 or i == len(wavs):
                    print(f"icbhi: {i}/{len(wavs)} recordings, {out.n} cycles", file=sys.stderr)
            if out.n == 0:
                raise ValueError(f"no annotated cycles found under {raw_dir}")
            metadata = pd.DataFrame(rows)
            info = {
                **self.base_info(),
                "sample_rate": audio.TARGET_SR,
                "clip_seconds": clip_seconds,
                "split_list": {k: listing[k] for k in ("matched_ignoring_device", "unlisted", "listed_not_on_disk")},
                "published_figures": self.published_figures(labels, metadata),
            }
            split_list = str(raw_dir / SPLIT_LIST)
            out.finish(np.array(labels), metadata, info, parts={"source_split": {"train": split_list, "test": split_list}})

    def generate_demo(
        self,
        raw_dir,
        seed: int = 0,
        n_patients: int = 12,
        recordings_per_patient: int = 2,
        cycles_per_recording: int = 6,
        list_quirk: bool = True,
        signal: float = 1.0,
    ) -> None:
        """A small ICBHI in its real layout: zip of ``.wav`` + ``.txt`` pairs and the split list.

        Recordings have the real devices' formats (44.1 kHz 24-bit PCM, 4 kHz 16-bit for the
        Litt3200). Cycles carry the class signal: crackles are short decaying bursts, wheezes
        a tone of 300-500 Hz, both together for class 3, plain breathing noise for class 0.
        ``list_quirk``: like the real list, the list names the first LittC2SE recording with
        the device ``Meditron``. ``signal`` scales the class sounds against the breathing
        noise (below 1: a harder twin; the draw is the same).
        """
        rng = np.random.default_rng(seed)
        raw_dir = Path(raw_dir)
        raw_dir.mkdir(parents=True, exist_ok=True)
        devices = list(DEVICE_FORMATS)
        split_lines, quirk_done = [], not list_quirk
        # Deflated like the real archive; level 1 because 24-bit noise barely compresses anyway.
        with zipfile.ZipFile(raw_dir / ARCHIVE, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for p in range(n_patients):
                patient = 101 + p
                device = devices[p % len(devices)]
                sr, subtype = DEVICE_FORMATS[device]
                for r in range(recordings_per_patient):
                    name = f"{patient}_{r + 1}b1_{CHEST_LOCATIONS[(p + r) % 7]}_sc_{device}"
                    pieces, lines = [np.zeros(int(0.2 * sr))], []
                    t = 0.2
                    for _ in range(cycles_per_recording):
                        label = int(rng.integers(0, 4))
                        n = int(rng.uniform(0.4, 1.2) * sr)
                        cycle = audio.breath_noise(rng, n, sr)
                        if label in (1, 3):
                            cycle += signal * audio.crackles(rng, n, sr, count=6, freq=CRACKLE_HZ, dur_s=0.004)
                        if label in (2, 3):
                            cycle += signal * audio.tone(n, sr, freq=rng.uniform(300, 500))
                        pieces.append(cycle)
                        lines.append(f"{t:.3f}\t{t + n / sr:.3f}\t{label & 1}\t{label >> 1}")
                        t += n / sr
                    path = raw_dir / f".{name}.wav"
                    audio.write_wav(path, np.concatenate(pieces), sr, subtype)
                    z.write(path, f"ICBHI_final_database/{name}.wav")
                    path.unlink()
                    z.writestr(f"ICBHI_final_database/{name}.txt", "\n".join(lines) + "\n")
                    listed = name
                    if not quirk_done and device == "LittC2SE":
                        listed, quirk_done = name.replace("_LittC2SE", "_Meditron"), True
                    split_lines.append(f"{listed}\t{'train' if p % 5 else 'test'}")
        (raw_dir / SPLIT_LIST).write_text("\n".join(split_lines) + "\n")
        unpack(raw_dir)

    def source_figures(self, raw_dir) -> dict:
        """Recordings, patients, cycles and cycles per class, counted from the raw files."""
        wavs = sorted((Path(raw_dir) / UNPACKED).rglob("*.wav"))
        labels = []
        for wav in wavs:
            cycles = read_annotation(wav.with_suffix(".txt"))
            labels += [int(c) + 2 * int(w) for _, _, c, w in cycles]
        return {
            "recordings": len(wavs),
            "patients": len({parse_name(w)[0] for w in wavs}),
            "samples": len(labels),
            "class_counts": np.bincount(labels, minlength=self.n_classes).tolist(),
        }


def unpack(raw_dir) -> Path:
    """Unpack the archive into ``raw_dir/unpacked`` once (atomically, see extract_archive)."""
    target = Path(raw_dir) / UNPACKED
    if not target.is_dir():
        extract_archive(Path(raw_dir) / ARCHIVE, target)
    return target


def parse_name(wav: Path) -> tuple[int, str, str, str, str]:
    parts = wav.stem.split("_")
    if len(parts) != 5 or not parts[0].isdigit():
        raise ValueError(f"{wav}: expected <patient>_<index>_<location>_<mode>_<device>.wav")
    return int(parts[0]), parts[1], parts[2], parts[3], parts[4]


def read_annotation(path: Path) -> np.ndarray:
    """Cycle rows (start s, end s, crackles, wheezes) of one recording."""
    try:
        rows = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read ICBHI annotation {path}: {exc}") from exc
    if rows.shape[1] != 4:
        raise ValueError(f"{path}: expected 4 columns (start end crackles wheezes), got {rows.shape[1]}")
    bad = ~np.isfinite(rows).all(axis=1) | ~np.isin(rows[:, 2:], (0, 1)).all(axis=1) | (rows[:, 0] < 0) | (rows[:, 1] <= rows[:, 0])
    if bad.any():
        from fhbench.data.checks import RAW_TODO
        from fhbench.errors import InputError

        line = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}:{line + 1}", f"cycle {rows[line].tolist()} is not start < end seconds with crackles and wheezes 0 or 1", RAW_TODO
        )
    return rows


def match_split_list(stems: list[str], listed: dict[str, str]) -> dict:
    """The official split of every recording on disk.

    A recording the list does not name takes the split of the listed name that agrees with it on
    everything but the device (patient, index, location, mode) and names no file on disk, when
    that pairing is one to one. Returns ``splits`` (stem → split, ``unlisted`` where nothing matches),
    ``matched_ignoring_device`` (stem → listed name), ``unlisted`` and ``listed_not_on_disk``.
    """

    def key(name: str) -> str:
        return name.rsplit("_", 1)[0]

    on_disk = set(stems)
    spare: dict[str, list[str]] = {}
    for name in listed:
        if name not in on_disk:
            spare.setdefault(key(name), []).append(name)
    missing: dict[str, list[str]] = {}
    for stem in stems:
        if stem not in listed:
            missing.setdefault(key(stem), []).append(stem)
    splits, matched, unlisted = {}, {}, []
    for stem in stems:
        if stem in listed:
            splits[stem] = listed[stem]
        elif len(missing[key(stem)]) == 1 and len(spare.get(key(stem), [])) == 1:
            matched[stem] = spare.pop(key(stem))[0]
            splits[stem] = listed[matched[stem]]
        else:  # no candidate, or several: which file the list meant cannot be told
            splits[stem] = "unlisted"
            unlisted.append(stem)
    leftover = sorted(n for names in spare.values() for n in names)
    return {"splits": splits, "matched_ignoring_device": matched, "unlisted": unlisted, "listed_not_on_disk": leftover}


def report_split_list(listing: dict) -> None:
    for stem, name in listing["matched_ignoring_device"].items():
        print(f"icbhi: {stem} is listed as {name} in {SPLIT_LIST} (device differs); using its split", file=sys.stderr)
    if listing["unlisted"]:
        print(
            f"icbhi: {len(listing['unlisted'])} recording(s) not in {SPLIT_LIST}, source_split=unlisted: {', '.join(listing['unlisted'])}",
            file=sys.stderr,
        )
    if listing["listed_not_on_disk"]:
        print(f"icbhi: listed in {SPLIT_LIST} but not on disk: {', '.join(listing['listed_not_on_disk'])}", file=sys.stderr)


def read_split_list(path: Path) -> dict[str, str]:
    """Recording name → official split (``train``/``test``)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: the official train/test list is part of the ICBHI source")
    splits = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            splits[parts[0]] = parts[1]
    return splits


DATASET = ICBHI()
