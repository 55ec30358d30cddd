"""PubMed 200k RCT: sentences of randomised-controlled-trial abstracts, 5 roles (text).

Source: github.com/Franck-Dernoncourt/pubmed-rct, folder ``PubMed_200k_RCT``: ``train.7z``
(holding ``train.txt``), ``dev.txt``, ``test.txt``. Each file is a run of abstracts; an
abstract starts at a ``###<id>`` line and holds one ``LABEL<TAB>sentence`` line per sentence.
No checksum is published; MANIFEST.json records the sha256 of what was fetched.
docs/protocol.md §1: labels alphabetical (BACKGROUND 0 … RESULTS 4), train then test concatenated,
dev unused (downloaded so the raw folder is a faithful copy of the source), text lower-cased.
"""

from __future__ import annotations

import os
import sys
import tempfile
from array import array
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from fhbench.data.base import Dataset
from fhbench.data.download import RemoteFile, extract_archive
from fhbench.data.prepared import stream_prepared

BASE_URL = "https://raw.githubusercontent.com/Franck-Dernoncourt/pubmed-rct/master/PubMed_200k_RCT"
SOURCE_FILES = ("train.7z", "dev.txt", "test.txt")
POOL_ORDER = ("train", "test")
CLASS_NAMES = ("BACKGROUND", "CONCLUSIONS", "METHODS", "OBJECTIVE", "RESULTS")

# Demo twin: each role gets its own cue words so a model can learn it within a few rounds.
_DEMO_ROLE_WORDS = (
    ("Previous", "Known", "Prevalence", "Burden", "Common"),
    ("Suggests", "Conclude", "Recommend", "Supports", "Implications"),
    ("Randomised", "Enrolled", "Allocated", "Measured", "Protocol"),
    ("Aim", "Objective", "Investigate", "Assess", "Purpose"),
    ("Significantly", "Reduced", "Increased", "Compared", "Observed"),
)
_DEMO_FILLER = ("the", "of", "patients", "trial", "and", "in", "with", "was", "were", "group", "treatment", "a")


def parse_abstracts(path: str | Path) -> Iterator[tuple[str, int, str, str]]:
    """Yield (abstract id, sentence number, label, text) for every sentence of a PubMed RCT file.

    Raises ``ValueError`` naming the file and line for a line that is neither ``###id``,
    blank, nor ``LABEL<TAB>text`` with a known label.
    """
    abstract, sentence = None, 0
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            if line.startswith("###"):
                abstract, sentence = line[3:].strip(), 0
                continue
            label, sep, text = line.partition("\t")
            if not sep or label not in CLASS_NAMES or abstract is None:
                raise ValueError(
                    f"{path}:{number}: expected '###<id>' or '<LABEL>\\t<sentence>' with a label in {CLASS_NAMES}, got {line[:80]!r}"
                )
            yield abstract, sentence, label, text
            sentence += 1


class PubMedRCT(Dataset):
    key = "pubmedrct"
    modality = "text"
    class_names = CLASS_NAMES

    def remote_files(self) -> list[RemoteFile]:
        return [RemoteFile(url=f"{BASE_URL}/{name}", filename=name) for name in SOURCE_FILES]

    published = {"samples": 2_240_000}  # "about 2.24 M sentences" (PROTOCOL §1)
    published_tolerance = {"samples": 0.01}

    def prepare(self, raw_dir: str | Path, out_dir: str | Path) -> None:
        """Sentences streamed into the prepared texts as they are parsed (2.2 M of them in the real source)."""
        raw_dir = Path(raw_dir)
        label_of = {name: i for i, name in enumerate(CLASS_NAMES)}
        labels, splits, abstracts, sentences = array("b"), array("b"), [], array("i")
        # train.txt exists only inside train.7z: unpack it next to the output, then drop it.
        Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".pubmedrct-unpack.", dir=Path(out_dir).parent) as tmp:
            sources = self.source_files(raw_dir, Path(tmp))
            with stream_prepared(out_dir, None) as out:
                for k, split in enumerate(POOL_ORDER):
                    for abstract, sentence, label, text in parse_abstracts(sources[split]):
                        out.add(text.lower())
                        labels.append(label_of[label])
                        splits.append(k)
                        if not abstracts or abstracts[-1][0] != abstract:  # ids run-length coded: one entry per abstract
                            abstracts.append((abstract, out.n - 1))
                        sentences.append(sentence)
                    print(f"{split}: {out.n} sentences pooled so far", file=sys.stderr, flush=True)
                starts = np.array([start for _, start in abstracts] + [out.n])
                metadata = pd.DataFrame(
                    {
                        "source_split": pd.Categorical.from_codes(np.frombuffer(splits, dtype=np.int8), POOL_ORDER),
                        "abstract_id": np.repeat(np.array([a for a, _ in abstracts], dtype=object), np.diff(starts)),
                        "sentence": np.frombuffer(sentences, dtype=np.int32),
                    }
                )
                labels = np.frombuffer(labels, dtype=np.int8).astype(np.int64)
                info = {**self.base_info(), "published_figures": self.published_figures(labels, metadata)}
                parts = {"source_split": {"train": str(raw_dir / "train.7z"), "test": str(raw_dir / "test.txt")}}
                out.finish(labels, metadata, info, parts=parts)

    def source_files(self, raw_dir: Path, tmp: Path) -> dict[str, Path]:
        """``train.txt`` unpacked from ``train.7z`` into ``tmp``, and ``test.txt``."""
        unpacked = extract_archive(raw_dir / "train.7z", tmp / "train")
        found = sorted(unpacked.rglob("train.txt"))
        if not found:
            raise ValueError(f"{raw_dir / 'train.7z'} holds no train.txt")
        sources = {"train": found[0], "test": raw_dir / "test.txt"}
        for path in sources.values():
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing; run the download step")
        return sources

    def source_figures(self, raw_dir) -> dict:
        """Sentences and sentences per role of train and test (dev unused), parsed from the files."""
        with tempfile.TemporaryDirectory(prefix=".pubmedrct-count.") as tmp:
            sources = self.source_files(Path(raw_dir), Path(tmp))
            counts = np.zeros(self.n_classes, dtype=np.int64)
            for split in POOL_ORDER:
                for _, _, label, _ in parse_abstracts(sources[split]):
                    counts[CLASS_NAMES.index(label)] += 1
        return {"samples": int(counts.sum()), "class_counts": counts.tolist()}

    def generate_demo(
        self, raw_dir: str | Path, seed: int = 0, n_train: int = 60, n_dev: int = 10, n_test: int = 20, words: int = 12
    ) -> None:
        """``train.7z`` (with ``train.txt``), ``dev.txt`` and ``test.txt`` in the source layout.

        ``n_*`` count abstracts (5-8 sentences each, roles in abstract order). Abstract ids
        start at 1,000,000 (train), 2,000,000 (dev) and 3,000,000 (test), so tests can tell
        the splits apart after pooling.
        """
        import py7zr

        rng = np.random.default_rng(seed)
        raw_dir = Path(raw_dir)
        raw_dir.mkdir(parents=True, exist_ok=True)
        for offset, (split, n) in enumerate((("train", n_train), ("dev", n_dev), ("test", n_test)), start=1):
            lines = []
            for a in range(n):
                lines.append(f"###{offset * 1_000_000 + a}")
                n_sentences = int(rng.integers(5, 9))
                # Roughly the order real abstracts follow: background/objective, methods, results, conclusions.
                roles = np.sort(rng.choice([0, 3, 2, 2, 4, 4, 1], n_sentences, replace=True))
                for role in roles:
                    tokens = list(rng.choice(_DEMO_FILLER, words - 3)) + list(rng.choice(_DEMO_ROLE_WORDS[role], 3))
                    rng.shuffle(tokens)
                    lines.append(f"{CLASS_NAMES[role]}\t{' '.join(tokens)} .")
                lines.append("")
            text = "\n".join(lines) + "\n"
            if split == "train":
                with tempfile.TemporaryDirectory() as tmp:
                    (Path(tmp) / "train.txt").write_text(text, encoding="utf-8")
                    # A fixed file time makes the archive, and so the twin's checksums, repeatable.
                    os.utime(Path(tmp) / "train.txt", (1_577_836_800, 1_577_836_800))
                    with py7zr.SevenZipFile(raw_dir / "train.7z", "w") as archive:
                        archive.write(Path(tmp) / "train.txt", arcname="train.txt")
            else:
                (raw_dir / f"{split}.txt").write_text(text, encoding="utf-8")


DATASET = PubMedRCT()
