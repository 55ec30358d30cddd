"""Medical Abstracts TC Corpus: clinical abstracts, 5 patient-condition classes (text).

Source: github.com/sebischair/Medical-Abstracts-TC-Corpus, ``medical_tc_train.csv`` and
``medical_tc_test.csv`` (columns ``condition_label`` 1-5 and ``medical_abstract``). No checksum
is published; the raw folder's MANIFEST.json records the sha256 of what was fetched.
docs/protocol.md §1: label = condition_label − 1; train and test concatenated in that order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fhbench.data.base import Dataset
from fhbench.data.download import RemoteFile
from fhbench.data.prepared import write_prepared

BASE_URL = "https://raw.githubusercontent.com/sebischair/Medical-Abstracts-TC-Corpus/main"
POOL_ORDER = ("train", "test")
CLASS_NAMES = (
    "neoplasms",
    "digestive system diseases",
    "nervous system diseases",
    "cardiovascular diseases",
    "general pathological conditions",
)

# Words that make the demo twin's classes learnable from a few rounds (a bag of class words
# inside shared filler), without pretending to be medical language.
_DEMO_CLASS_WORDS = (
    ("tumor", "carcinoma", "malignant", "metastasis", "oncology"),
    ("gastric", "bowel", "hepatic", "colon", "intestinal"),
    ("neuronal", "seizure", "cerebral", "nerve", "spinal"),
    ("cardiac", "artery", "coronary", "heart", "vascular"),
    ("syndrome", "inflammation", "fever", "chronic", "systemic"),
)
_DEMO_FILLER = ("patients", "study", "were", "treated", "with", "the", "and", "results", "in", "of", "a", "clinical", "group")


class MedicalAbstracts(Dataset):
    key = "medabs"
    modality = "text"
    class_names = CLASS_NAMES
    published = {"samples": 14_438, "train samples": 11_550, "test samples": 2_888, "test class counts": [633, 299, 385, 610, 961]}

    def remote_files(self) -> list[RemoteFile]:
        return [RemoteFile(url=f"{BASE_URL}/medical_tc_{split}.csv", filename=f"medical_tc_{split}.csv") for split in POOL_ORDER]

    def read_split(self, raw_dir: str | Path, split: str) -> pd.DataFrame:
        path = Path(raw_dir) / f"medical_tc_{split}.csv"
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise ValueError(f"{path} is not a readable Medical Abstracts CSV: {exc}") from exc
        missing = {"condition_label", "medical_abstract"} - set(frame.columns)
        if missing:
            raise ValueError(f"{path} lacks the column(s) {sorted(missing)}")
        bad = sorted(set(frame["condition_label"]) - set(range(1, self.n_classes + 1)))
        if bad:
            raise ValueError(f"{path}: condition_label values {bad} outside 1-{self.n_classes}")
        return frame

    def prepare(self, raw_dir: str | Path, out_dir: str | Path) -> None:
        frames = [self.read_split(raw_dir, split).assign(source_split=split) for split in POOL_ORDER]
        pooled = pd.concat(frames, ignore_index=True)
        texts = pooled["medical_abstract"].astype(str).tolist()
        labels = pooled["condition_label"].to_numpy(dtype=np.int64) - 1
        info = {**self.base_info(), "published_figures": self.published_figures(labels, pooled)}
        parts = {"source_split": {split: str(Path(raw_dir) / f"medical_tc_{split}.csv") for split in POOL_ORDER}}
        write_prepared(out_dir, texts, labels, pooled[["source_split"]], info, parts=parts)

    @staticmethod
    def _figures(labels: np.ndarray, splits: np.ndarray, n_classes: int) -> dict:
        test = labels[splits == "test"]
        return {
            "samples": int(len(labels)),
            "train samples": int((splits == "train").sum()),
            "test samples": int(len(test)),
            "test class counts": np.bincount(test, minlength=n_classes).tolist(),
        }

    def published_figures(self, labels, metadata) -> dict:
        from fhbench.data.published import compare_figures

        return compare_figures(self.published, self._figures(np.asarray(labels), metadata["source_split"].to_numpy(), self.n_classes))

    def source_figures(self, raw_dir) -> dict:
        frames = [self.read_split(raw_dir, split).assign(source_split=split) for split in POOL_ORDER]
        pooled = pd.concat(frames, ignore_index=True)
        return self._figures(pooled["condition_label"].to_numpy() - 1, pooled["source_split"].to_numpy(), self.n_classes)

    def generate_demo(self, raw_dir: str | Path, seed: int = 0, n_train: int = 400, n_test: int = 100, words: int = 40) -> None:
        """Two CSVs with the source's columns: abstracts of filler words plus class words."""
        rng = np.random.default_rng(seed)
        raw_dir = Path(raw_dir)
        raw_dir.mkdir(parents=True, exist_ok=True)
        for split, n in (("train", n_train), ("test", n_test)):
            labels = rng.integers(0, self.n_classes, size=n)
            abstracts = []
            for label in labels:
                n_class = max(2, words // 5)
                tokens = list(rng.choice(_DEMO_FILLER, words - n_class)) + list(rng.choice(_DEMO_CLASS_WORDS[label], n_class))
                rng.shuffle(tokens)
                abstracts.append(" ".join(tokens).capitalize() + ".")
            frame = pd.DataFrame({"condition_label": labels + 1, "medical_abstract": abstracts})
            frame.to_csv(raw_dir / f"medical_tc_{split}.csv", index=False)


DATASET = MedicalAbstracts()
