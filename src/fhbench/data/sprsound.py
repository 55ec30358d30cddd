"""SPRSound (SJTU Paediatric Respiratory Sound database): 9,089 events, 7 classes.

Source: the GitHub repository SJTU-YONGFU-RESEARCH-GRP/SPRSound, BioCAS 2022 release
(``BioCAS2022/train2022_{wav,json}``, ``test2022_wav`` and ``test2022_json/{inter,intra}_test_json``),
pinned to one commit. The file list comes from GitHub's tree API (saved as ``git-tree.json``
beside the data, so a mirror holds the same paths plus that listing); files come from
raw.githubusercontent.com. The listing publishes each file's size and git blob id (sha1 of
``blob <size>\\0`` + content; GitHub REST API "Get a tree"); every file is checked against both. The
repository also holds copies of the files (under ``releases/`` and ``Classification/``): only
``BioCAS2022/`` is read. When GitHub truncates the recursive listing, the wanted folders are
listed one by one (``git-trees/<sha>.json`` on a mirror).

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
from fhbench.data.checks import check_sample_rate
from fhbench.data.download import DownloadError, RemoteFile, fetch
from fhbench.data.file_lists import fetch_listed, git_blob_sha1, git_tree_blobs
from fhbench.data.prepared import stream_prepared

REPO = "SJTU-YONGFU-RESEARCH-GRP/SPRSound"
REF = "174500e401f4ebf54061414c2fe082c7dccfb9d2"  # a commit holding the BioCAS2022 release
API_TREES = f"https://api.github.com/repos/{REPO}/git/trees"
TREE_URL = f"{API_TREES}/{REF}?recursive=1"
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
# The recordings' sampling rate as the source states it (Zhang et al., "SPRSound: open-source SJTU
# paediatric respiratory sound database", IEEE TBioCAS 2022: 8 kHz); preparation refuses any other.
SOURCE_SR = 8000
DEMO_SR = SOURCE_SR  # the real recordings: 8 kHz, 16-bit PCM, mono
PUBLISHED = {"samples": 9_089, "patients": 288}


def subtree_file(sha: str) -> RemoteFile:
    """The non-recursive listing of one tree (folder) of the repository."""
    return RemoteFile(f"{API_TREES}/{sha}", f"git-trees/{sha}.json")


class SPRSound(Dataset):
    key = "sprsound"
    modality = "audio"
    class_names = CLASSES
    natural_groups = ("patient",)

    def remote_files(self) -> list[RemoteFile]:
        """Only the listing; :meth:`download` reads it to list the audio and annotation files."""
        return [RemoteFile(TREE_URL, LISTING)]

    published = PUBLISHED

    def download(self, raw_dir, base_url=None, part_dir=None, workers: int = 8) -> list[Path]:
        listing = fetch(self.remote_files()[0].rebased(base_url), raw_dir, part_dir=part_dir, progress=False)
        wanted = tuple(f"{RELEASE}/{folder}/" for _, a, w in PARTS for folder in (a, w))
        blobs = git_tree_blobs(listing, lambda sha: subtree_file(sha).rebased(base_url), raw_dir, wanted, part_dir)
        paths = [p for p in blobs if p.endswith((".wav", ".json"))]
        if not paths:
            raise DownloadError(f"{listing} lists no {RELEASE} files")
        remotes = [RemoteFile(f"{RAW_URL}/{p}", p).rebased(base_url) for p in paths]
        # Every file checked against the size and git blob id the tree listing publishes.
        return [listing] + fetch_listed(remotes, raw_dir, part_dir=part_dir, workers=workers, label=self.key, published=blobs)

    def prepare(self, raw_dir, out_dir, clip_seconds: float = audio.DEFAULT_CLIP_SECONDS) -> None:
        """Cut every annotated event into a fixed-length 16 kHz clip; inputs (N, clip samples)."""
        raw_dir = Path(raw_dir) / RELEASE
        clip = audio.clip_samples_for(clip_seconds)
        records = [
            (split, j, raw_dir / wav_dir / (j.stem + ".wav"))
            for split, ann_dir, wav_dir in PARTS
            for j in sorted((raw_dir / ann_dir).glob("*.json"))
        ]
        if not records:
            raise FileNotFoundError(f"no SPRSound annotations under {raw_dir}; acquire the dataset first")
        all_events = [read_events(ann) for _, ann, _ in records]
        labels, rows = [], []
        with stream_prepared(out_dir, (clip,), np.float32, sum(len(e) for e in all_events)) as out:
            for i, ((split, ann, wav), events) in enumerate(zip(records, all_events), start=1):
                if not events:  # e.g. poor-quality recordings carry no events
                    continue
                if not wav.exists():
                    raise FileNotFoundError(f"{wav} missing for annotation {ann}")
                patient, age, gender, location, _ = wav.stem.split("_")
                signal, sr = audio.read_mono(wav)
                check_sample_rate(wav, sr, (SOURCE_SR,), "the SPRSound paper (Zhang et al., IEEE TBioCAS 2022)")
                for start_ms, end_ms, label in events:
                    x = audio.clip_from_recording(signal, sr, start_ms / 1000, end_ms / 1000, clip)
                    if x is None:
                        continue
                    out.add(x, source=wav)
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
                    print(f"sprsound: {i}/{len(records)} recordings, {out.n} events", file=sys.stderr)
            if out.n == 0:
                raise ValueError(f"no annotated events found under {raw_dir}")
            metadata = pd.DataFrame(rows)
            info = {
                **self.base_info(),
                "sample_rate": audio.TARGET_SR,
                "clip_seconds": clip_seconds,
                "published_figures": self.published_figures(labels, metadata),
            }
            out.finish(np.array(labels), metadata, info)

    def source_figures(self, raw_dir) -> dict:
        """Events, events per class and patients, counted from the BioCAS2022 annotations."""
        root = Path(raw_dir) / RELEASE
        anns = [j for _, ann_dir, _ in PARTS for j in sorted((root / ann_dir).glob("*.json"))]
        labels = [label for j in anns for _, _, label in read_events(j)]
        return {
            "recordings": len(anns),
            "patients": len({j.stem.split("_")[0] for j in anns}),
            "samples": len(labels),
            "class_counts": np.bincount(labels, minlength=self.n_classes).tolist(),
        }

    def generate_demo(
        self,
        raw_dir,
        seed: int = 0,
        n_patients: int = 14,
        recordings_per_patient: int = 2,
        events_per_recording: int = 5,
        signal: float = 1.0,
    ) -> None:
        """A small SPRSound in the BioCAS2022 layout (8 kHz ``.wav`` + ``.json``) plus its listing.

        Event classes differ in what is added to breathing noise: fine (high, short) or coarse
        (low, longer) crackles, wheeze (600 Hz), rhonchi (150 Hz), stridor (1,200 Hz).
        ``signal`` scales those sounds against the breathing noise (below 1: a harder twin).
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
                    pieces.append(synth_event(rng, label, n, signal) + 0.0)
                    events.append({"start": int(t * 1000), "end": int((t + n / DEMO_SR) * 1000), "type": CLASSES[label]})
                    t += n / DEMO_SR
                    gap = np.zeros(int(0.1 * DEMO_SR))
                    pieces.append(gap)
                    t += len(gap) / DEMO_SR
                audio.write_wav(raw_dir / RELEASE / wav_dir / f"{stem}.wav", np.concatenate(pieces), DEMO_SR)
                ann = raw_dir / RELEASE / ann_dir / f"{stem}.json"
                ann.parent.mkdir(parents=True, exist_ok=True)
                # Millisecond integers and the key names of the source's README example.
                record = "Normal" if all(e["type"] == "Normal" for e in events) else "CAS & DAS"
                ann.write_text(json.dumps({"recording_annotation": record, "event_annotation": events}, indent=4))
                written += [f"{RELEASE}/{wav_dir}/{stem}.wav", f"{RELEASE}/{ann_dir}/{stem}.json"]
        # The repository's duplicate copies (which the download must skip), for the first recording.
        for copy in (f"releases/{written[0]}", f"Classification/{written[0].split('/', 1)[1]}"):
            (raw_dir / copy).parent.mkdir(parents=True, exist_ok=True)
            (raw_dir / copy).write_bytes((raw_dir / written[0]).read_bytes())
            written.append(copy)
        write_tree_listings(raw_dir, written)


def write_tree_listings(root: Path, paths: list[str], truncate_after: int | None = None) -> None:
    """GitHub's tree API answers for ``paths`` under ``root``, so that a mirror of it serves them.

    ``git-tree.json``: the recursive listing (cut after ``truncate_after`` entries and marked
    ``truncated``, as GitHub does for large trees); ``git-trees/<sha>.json``: the non-recursive
    listing of every folder (the root's under the commit ``REF``). Tree shas are sha1s of the
    folder path, which is all a mirror needs.
    """
    import hashlib

    def sha(folder: str) -> str:
        return REF if folder == "" else hashlib.sha1(folder.encode()).hexdigest()

    children: dict[str, dict[str, dict]] = {}
    entries = []
    for path in sorted(paths):
        parts = path.split("/")
        for depth in range(len(parts)):
            parent, name = "/".join(parts[:depth]), parts[depth]
            full = "/".join(parts[: depth + 1])
            if depth == len(parts) - 1:
                entry = {
                    "path": name,
                    "mode": "100644",
                    "type": "blob",
                    "sha": git_blob_sha1(root / path),
                    "size": (root / path).stat().st_size,
                }
            else:
                entry = {"path": name, "mode": "040000", "type": "tree", "sha": sha(full)}
            if name not in children.setdefault(parent, {}):
                children[parent][name] = entry
                entries.append({**entry, "path": full})
    entries.sort(key=lambda e: e["path"])
    truncated = truncate_after is not None and truncate_after < len(entries)
    listing = {"sha": REF, "tree": entries[:truncate_after] if truncated else entries, "truncated": truncated}
    (root / LISTING).write_text(json.dumps(listing, indent=1))
    (root / "git-trees").mkdir(exist_ok=True)
    for folder, names in children.items():
        answer = {"sha": sha(folder), "tree": [names[n] for n in sorted(names)], "truncated": False}
        (root / "git-trees" / f"{sha(folder)}.json").write_text(json.dumps(answer, indent=1))


def synth_event(rng: np.random.Generator, label: int, n: int, signal: float = 1.0) -> np.ndarray:
    """Breathing noise plus the class's sounds, scaled by ``signal``."""
    x = audio.breath_noise(rng, n, DEMO_SR)
    sound = np.zeros(n)
    name = CLASSES[label]
    if "Crackle" in name and name != "Coarse Crackle":  # Fine Crackle, Wheeze+Crackle
        sound += audio.crackles(rng, n, DEMO_SR, count=6, freq=1500, dur_s=0.003)
    if name == "Coarse Crackle":
        sound += audio.crackles(rng, n, DEMO_SR, count=4, freq=250, dur_s=0.015)
    if name.startswith("Wheeze"):
        sound += audio.tone(n, DEMO_SR, 600)
    if name == "Rhonchi":
        sound += audio.tone(n, DEMO_SR, 150)
    if name == "Stridor":
        sound += audio.tone(n, DEMO_SR, 1200)
    return x + signal * sound


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
    for i, (start, end, _) in enumerate(out):
        if not (np.isfinite(start) and np.isfinite(end) and 0 <= start < end):  # would be skipped as an empty clip
            from fhbench.data.checks import RAW_TODO
            from fhbench.errors import InputError

            raise InputError(path, f"event {i} spans {start} to {end} ms, not start < end", RAW_TODO)
    return out


DATASET = SPRSound()
