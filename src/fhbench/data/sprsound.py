"""SPRSound (SJTU Paediatric Respiratory Sound database): 9,089 events, 7 classes.

Source: the GitHub repository SJTU-YONGFU-RESEARCH-GRP/SPRSound, BioCAS 2022 release
(``BioCAS2022/train2022_{wav,json}``, ``test2022_wav`` and ``test2022_json/{inter,intra}_test_json``),
pinned to one commit. The file list comes from GitHub's tree API (saved as ``git-tree.json``
beside the data, so a mirror holds the same paths plus that listing); files come from
raw.githubusercontent.com. No checksums are published; the manifest records sha256.

Each ``.json`` holds ``event_annotation``: a list of ``{"start": ms, "end": ms, "type": ...}``.
Recording names are ``<patient>_<age>_<gender>_<location>_<number>``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fhbench.data import respiratory as audio
from fhbench.data.base import Dataset
from fhbench.data.download import DownloadError, RemoteFile, fetch
from fhbench.data.file_lists import fetch_listed
from fhbench.data.prepared import write_prepared

REPO = "SJTU-YONGFU-RESEARCH-GRP/SPRSound"
REF = "174500e401f4ebf54061414c2fe082c7dccfb9d2"  # a commit holding the BioCAS2022 release
TREE_URL = f"https://api.github.com/repos/{REPO}/git/trees/{REF}?recursive=1"
RAW_URL = f"https://raw.githubusercontent.com/{REPO}/{REF}"
LISTING = "git-tree.json"
RELEASE = "BioCAS2022"
# (source split, annotation folder, audio folder); pooled in this order, files sorted by name.
PARTS = (
    ("train", "train2022_json", "train2022_wav"),
    ("inter_test", "test2022_json/inter_test_json", "test2022_wav"),
    ("intra_test", "test2022_json/intra_test_json", "test2022_wav"),
)
CLASSES = ("Normal", "Fine Crackle", "Wheeze", "Coarse Crackle", "Wheeze+Crackle", "Rhonchi", "Stridor")
DEMO_SR = 8000


class SPRSound(Dataset):
    key = "sprsound"
    modality = "audio"
    class_names = CLASSES
    natural_groups = ("patient",)

    def remote_files(self) -> list[RemoteFile]:
        """Only the listing; :meth:`download` reads it to list the audio and annotation files."""
        return [RemoteFile(TREE_URL, LISTING)]

    def download(self, raw_dir, base_url=None, part_dir=None, workers: int = 8) -> list[Path]:
        listing = fetch(self.remote_files()[0].rebased(base_url), raw_dir, part_dir=part_dir, progress=False)
        tree = json.loads(listing.read_text())
        if tree.get("truncated"):
            raise DownloadError(f"{listing}: GitHub truncated the file listing; fetch {REPO} at {REF} by hand into {raw_dir}")
        wanted = tuple(f"{RELEASE}/{folder}/" for _, a, w in PARTS for folder in (a, w))
        paths = sorted(
            e["path"] for e in tree["tree"] if e.get("type") == "blob" and e["path"].startswith(wanted) and e["path"].endswith((".wav", ".json"))
        )
        if not paths:
            raise DownloadError(f"{listing} lists no {RELEASE} files")
        remotes = [RemoteFile(f"{RAW_URL}/{p}", p).rebased(base_url) for p in paths]
        return [listing] + fetch_listed(remotes, raw_dir, part_dir=part_dir, workers=workers, label=self.key)

    def prepare(self, raw_dir, out_dir, clip_seconds: float = audio.DEFAULT_CLIP_SECONDS) -> None:
        """Cut every annotated event into a fixed-length 16 kHz clip; inputs (N, clip samples)."""
        raw_dir = Path(raw_dir) / RELEASE
        clip = audio.clip_samples_for(clip_seconds)
        records = [(split, j, raw_dir / wav_dir / (j.stem + ".wav")) for split, ann_dir, wav_dir in PARTS for j in sorted((raw_dir / ann_dir).glob("*.json"))]
        if not records:
            raise FileNotFoundError(f"no SPRSound annotations under {raw_dir}; acquire the dataset first")
        all_events = [read_events(ann) for _, ann, _ in records]
        clips = audio.ClipBuffer(sum(len(e) for e in all_events), clip)
        labels, rows = [], []
        for i, ((split, ann, wav), events) in enumerate(zip(records, all_events), start=1):
            if not events:  # e.g. poor-quality recordings carry no events
                continue
            if not wav.exists():
                raise FileNotFoundError(f"{wav} missing for annotation {ann}")
            patient, age, gender, location, _ = wav.stem.split("_")
            signal, sr = audio.read_mono(wav)
            for start_ms, end_ms, label in events:
                x = audio.clip_from_recording(signal, sr, start_ms / 1000, end_ms / 1000, clip)
                if x is None:
                    continue
                clips.add(x)
                labels.append(label)
                rows.append(
                    {
                        "patient": int(patient),
                        "recording": wav.stem,
                        "age": float(age),
                        "gender": int(gender),
                        "location": location,
                        "source_split": split,
                        "start_ms": start_ms,
                        "end_ms": end_ms,
                    }
                )
            if i % max(1, len(records) // 20) == 0 or i == len(records):
                print(f"sprsound: {i}/{len(records)} recordings, {clips.n} events", file=sys.stderr)
        if clips.n == 0:
            raise ValueError(f"no annotated events found under {raw_dir}")
        info = {
            **self.base_info(),
            "sample_rate": audio.TARGET_SR,
            "clip_seconds": clip_seconds,
        }
        write_prepared(out_dir, clips.filled(), np.array(labels), pd.DataFrame(rows), info)

    def generate_demo(self, raw_dir, seed: int = 0, n_patients: int = 14, recordings_per_patient: int = 2, events_per_recording: int = 5) -> None:
        """A small SPRSound in the BioCAS2022 layout (8 kHz ``.wav`` + ``.json``) plus its listing.

        Event classes differ in what is added to breathing noise: fine (high, short) or coarse
        (low, longer) crackles, wheeze (600 Hz), rhonchi (150 Hz), stridor (1,200 Hz).
        """
        rng = np.random.default_rng(seed)
        raw_dir = Path(raw_dir)
        written = []
        number = 100
        for p in range(n_patients):
            patient = 41000000 + 37 * p
            age, gender = round(float(rng.uniform(0.2, 14)), 1), int(rng.integers(0, 2))
            split, ann_dir, wav_dir = PARTS[0] if p % 4 else PARTS[1 + (p // 4) % 2]
            for r in range(recordings_per_patient):
                number += 1
                stem = f"{patient}_{age}_{gender}_p{1 + (p + r) % 4}_{number}"
                pieces, events, t = [np.zeros(int(0.3 * DEMO_SR))], [], 0.3
                for _ in range(events_per_recording):
                    label = int(rng.integers(0, len(CLASSES)))
                    n = int(rng.uniform(0.4, 1.0) * DEMO_SR)
                    pieces.append(synth_event(rng, label, n) + 0.0)
                    events.append({"start": str(int(t * 1000)), "end": str(int((t + n / DEMO_SR) * 1000)), "type": CLASSES[label]})
                    t += n / DEMO_SR
                    gap = np.zeros(int(0.1 * DEMO_SR))
                    pieces.append(gap)
                    t += len(gap) / DEMO_SR
                audio.write_wav(raw_dir / RELEASE / wav_dir / f"{stem}.wav", np.concatenate(pieces), DEMO_SR)
                ann = raw_dir / RELEASE / ann_dir / f"{stem}.json"
                ann.parent.mkdir(parents=True, exist_ok=True)
                ann.write_text(json.dumps({"record_annotation": "Normal" if all(e["type"] == "Normal" for e in events) else "CAS & DAS", "event_annotation": events}))
                written += [f"{RELEASE}/{wav_dir}/{stem}.wav", f"{RELEASE}/{ann_dir}/{stem}.json"]
        # The listing, in the shape of GitHub's tree API answer, so a mirror of this folder works.
        tree = [{"path": p, "type": "blob", "size": (raw_dir / p).stat().st_size} for p in sorted(written)]
        (raw_dir / LISTING).write_text(json.dumps({"sha": REF, "tree": tree, "truncated": False}, indent=1))


def synth_event(rng: np.random.Generator, label: int, n: int) -> np.ndarray:
    x = audio.breath_noise(rng, n, DEMO_SR)
    name = CLASSES[label]
    if "Crackle" in name and name != "Coarse Crackle":  # Fine Crackle, Wheeze+Crackle
        x += audio.crackles(rng, n, DEMO_SR, count=6, freq=1500, dur_s=0.003)
    if name == "Coarse Crackle":
        x += audio.crackles(rng, n, DEMO_SR, count=4, freq=250, dur_s=0.015)
    if name.startswith("Wheeze"):
        x += audio.tone(n, DEMO_SR, 600)
    if name == "Rhonchi":
        x += audio.tone(n, DEMO_SR, 150)
    if name == "Stridor":
        x += audio.tone(n, DEMO_SR, 1200)
    return x


def read_events(path: Path) -> list[tuple[float, float, int]]:
    """(start ms, end ms, class index) of every annotated event of one recording."""
    try:
        events = json.loads(path.read_text())["event_annotation"]
        out = []
        for e in events:
            if e["type"] not in CLASSES:
                raise ValueError(f"unknown event type {e['type']!r}; expected one of {CLASSES}")
            out.append((float(e["start"]), float(e["end"]), CLASSES.index(e["type"])))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read SPRSound annotation {path}: {exc}") from exc
    return out


DATASET = SPRSound()
