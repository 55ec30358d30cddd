"""PTB-XL 1.0.3: 12-lead ECG, 5 diagnostic superclasses, one-second windows.

Source: PhysioNet ``ptb-xl/1.0.3``: ``ptbxl_database.csv`` (one row per record: ``patient_id``,
``scp_codes`` as a dict of SCP code → likelihood, ``site``, ``strat_fold``, ``filename_hr``),
``scp_statements.csv`` (SCP code → ``diagnostic_class``) and the 500 Hz WFDB records
``records500/<folder>/<ecg_id>_hr.{hea,dat}``, listed from the database table. PhysioNet
publishes ``SHA256SUMS.txt``; every fetched file is checked against it.

Label (docs/protocol.md §1): the superclass of the record's highest-likelihood SCP code (NORM 0, MI 1,
STTC 2, CD 3, HYP 4). A patient is dropped when any of their records falls outside the five or
two records disagree. Each record is interpolated 500 → 250 Hz, standardised per channel over
its 10 s, cut into ten 1 s windows and each window standardised per channel: inputs (N, 12, 250).
The leads are taken by the names in each record's header (``sig_name``), in :data:`LEADS` order,
which ``info.json`` records; a record with another lead set stops the preparation, naming it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fhbench.data import timeseries as ts
from fhbench.data.base import Dataset
from fhbench.data.checks import check_table
from fhbench.data.download import RemoteFile
from fhbench.data.file_lists import fetch_listed, parse_sha256sums
from fhbench.data.prepared import stream_prepared

BASE_URL = "https://physionet.org/files/ptb-xl/1.0.3"
DATABASE = "ptbxl_database.csv"
STATEMENTS = "scp_statements.csv"
SUMS = "SHA256SUMS.txt"
SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
SOURCE_FS = 500
TARGET_FS = 250
N_WINDOWS = 10  # ten 1 s windows of each 10 s record
PUBLISHED = {"patients": 17_596, "samples": 191_400}  # 19,140 records × 10 windows


class PTBXL(Dataset):
    key = "ptbxl"
    modality = "timeseries"
    class_names = SUPERCLASSES
    natural_groups = ("site", "patient")

    def remote_files(self) -> list[RemoteFile]:
        """The index files; :meth:`download` lists the WFDB records from the database table."""
        return [RemoteFile(f"{BASE_URL}/{name}", name) for name in (SUMS, DATABASE, STATEMENTS)]

    def download(self, raw_dir, base_url=None, part_dir=None, workers: int = 8) -> list[Path]:
        raw_dir = Path(raw_dir)
        sums_path, *index = super().download(raw_dir, base_url=base_url, part_dir=part_dir)
        sums = parse_sha256sums(sums_path)
        files = [f"{stem}.{ext}" for stem in pd.read_csv(raw_dir / DATABASE)["filename_hr"] for ext in ("hea", "dat")]
        remotes = [RemoteFile(f"{BASE_URL}/{f}", f).rebased(base_url) for f in files]
        # The index files were fetched before the sums could be read: check them now too.
        fetched = fetch_listed([r.rebased(base_url) for r in self.remote_files()[1:]], raw_dir, part_dir, workers, sums, self.key)
        return [sums_path] + fetched + fetch_listed(remotes, raw_dir, part_dir, workers, sums, self.key)

    published = PUBLISHED

    def prepare(self, raw_dir, out_dir) -> None:
        raw_dir = Path(raw_dir)
        records = select_records(read_database(raw_dir / DATABASE), read_code_classes(raw_dir / STATEMENTS))
        with stream_prepared(out_dir, (len(LEADS), TARGET_FS), np.float32, len(records) * N_WINDOWS) as out:
            for i, rec in enumerate(records.itertuples()):
                out.add(record_windows(raw_dir / rec.filename_hr), source=f"{raw_dir / rec.filename_hr}.dat")
                if (i + 1) % max(1, len(records) // 20) == 0 or i + 1 == len(records):
                    print(f"ptbxl: {i + 1}/{len(records)} records", file=sys.stderr)
            metadata = pd.DataFrame(
                {
                    "patient": np.repeat(records["patient_id"].to_numpy(), N_WINDOWS),
                    "site": np.repeat(records["site"].to_numpy(), N_WINDOWS),
                    "strat_fold": np.repeat(records["strat_fold"].to_numpy(), N_WINDOWS),
                    "ecg_id": np.repeat(records.index.to_numpy(), N_WINDOWS),
                    "window": np.tile(np.arange(N_WINDOWS), len(records)),
                }
            )
            labels = np.repeat(records["label"].to_numpy(), N_WINDOWS)
            info = {
                **self.base_info(),
                "sample_rate": TARGET_FS,
                "channels": list(LEADS),
                "published_figures": self.published_figures(labels, metadata),
            }
            out.finish(labels, metadata, info, record_key=("ecg_id", "window"))

    def source_figures(self, raw_dir) -> dict:
        """Patients kept, windows and windows per class, from the two tables (no signal read)."""
        raw_dir = Path(raw_dir)
        records = select_records(read_database(raw_dir / DATABASE), read_code_classes(raw_dir / STATEMENTS))
        labels = np.repeat(records["label"].to_numpy(), N_WINDOWS)
        return {
            "patients": int(records["patient_id"].nunique()),
            "samples": len(labels),
            "class_counts": np.bincount(labels, minlength=self.n_classes).tolist(),
        }

    def published_checksums(self, raw_dir) -> list[dict]:
        """The tables and records this pipeline reads, against PhysioNet's ``SHA256SUMS.txt``."""
        from fhbench.data.download import file_digest

        raw_dir = Path(raw_dir)
        if not (raw_dir / SUMS).exists():
            return [{"figure": f"sha256 as published ({SUMS})", "published": "-", "found": f"no {SUMS}", "match": False}]
        sums = parse_sha256sums(raw_dir / SUMS)
        needed = [DATABASE, STATEMENTS] + [
            f"{stem}.{ext}" for stem in pd.read_csv(raw_dir / DATABASE)["filename_hr"] for ext in ("hea", "dat")
        ]
        bad = [n for n in needed if n not in sums or not (raw_dir / n).is_file() or file_digest(raw_dir / n) != sums[n]]
        note = f"differ or missing: {', '.join(bad[:5])}{' …' if len(bad) > 5 else ''}" if bad else ""
        return [
            {
                "figure": f"sha256 as published ({SUMS})",
                "published": len(needed),
                "found": len(needed) - len(bad),
                "match": not bad,
                "note": note,
            }
        ]

    def generate_demo(self, raw_dir, seed: int = 0, n_patients: int = 30, seconds: int = 10, signal: float = 1.0) -> None:
        """A small PTB-XL: database and statement tables, 500 Hz WFDB records and SHA256SUMS.txt.

        Each superclass has its own dominant frequency (1-6 Hz) on every lead. The tables
        include a patient whose two records disagree and one whose only record is a rhythm
        statement, both to be dropped, and records where a later SCP code has the highest
        likelihood. ``signal`` scales the class rhythm against the noise (below 1: a harder twin;
        the draw is the same).
        """
        import wfdb

        rng = np.random.default_rng(seed)
        raw_dir = Path(raw_dir)
        raw_dir.mkdir(parents=True, exist_ok=True)
        demo_statements().to_csv(raw_dir / STATEMENTS)
        codes_of = {"NORM": ["NORM"], "MI": ["IMI", "AMI"], "STTC": ["NDT", "ISC_"], "CD": ["CLBBB", "IRBBB"], "HYP": ["LVH"]}
        plan = []  # (patient, scp_codes)
        for p in range(n_patients):
            patient = 1000 + 7 * p
            cls = SUPERCLASSES[p % len(SUPERCLASSES)]
            for _ in range(1 + int(rng.integers(0, 2))):
                code = codes_of[cls][int(rng.integers(0, len(codes_of[cls])))]
                if cls != "NORM" and rng.random() < 0.3:  # the top code is not the first one listed
                    plan.append((patient, {"NORM": 50.0, code: 100.0, "SR": 0.0}))
                else:
                    plan.append((patient, {code: 100.0, "SR": 0.0}))
        plan.append((9001, {"NORM": 100.0, "SR": 0.0}))  # disagreeing patient: NORM then MI
        plan.append((9001, {"IMI": 100.0}))
        plan.append((9002, {"AFLT": 100.0, "LVH": 50.0}))  # top code is a rhythm: out of the five
        rows = []
        t = np.arange(seconds * SOURCE_FS) / SOURCE_FS
        for ecg_id, (patient, codes) in enumerate(plan, start=1):
            top = max(codes, key=codes.get)
            cls = next((c for c, cs in codes_of.items() if top in cs), "NORM")
            freq = (1.0, 2.0, 3.0, 4.5, 6.0)[SUPERCLASSES.index(cls)]
            phase = rng.uniform(0, 2 * np.pi, size=(len(LEADS), 1))
            gain = rng.uniform(0.5, 1.5, size=(len(LEADS), 1))
            rhythm = signal * gain * np.sin(2 * np.pi * freq * t + phase)
            samples = rhythm + 0.3 * rng.normal(size=(len(LEADS), len(t)))
            folder = f"{(ecg_id // 1000) * 1000:05d}"
            name = f"{ecg_id:05d}_hr"
            (raw_dir / "records500" / folder).mkdir(parents=True, exist_ok=True)
            wfdb.wrsamp(
                name,
                fs=SOURCE_FS,
                units=["mV"] * len(LEADS),
                sig_name=list(LEADS),
                p_signal=samples.T,
                fmt=["16"] * len(LEADS),
                adc_gain=[1000.0] * len(LEADS),
                baseline=[0] * len(LEADS),
                write_dir=str(raw_dir / "records500" / folder),
            )
            rows.append(
                {
                    "ecg_id": ecg_id,
                    "patient_id": float(patient),
                    "scp_codes": repr(codes),
                    "site": float(ecg_id % 3),
                    "strat_fold": 1 + ecg_id % 10,
                    "filename_lr": f"records100/{folder}/{ecg_id:05d}_lr",
                    "filename_hr": f"records500/{folder}/{name}",
                }
            )
        pd.DataFrame(rows).to_csv(raw_dir / DATABASE, index=False)
        write_sha256sums(raw_dir, raw_dir / SUMS)


def read_database(path: Path) -> pd.DataFrame:
    try:
        db = pd.read_csv(path, index_col="ecg_id")
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read PTB-XL database table {path}: {exc}") from exc
    check_table(db, path, unique="ecg_id")  # a record listed twice would be counted twice
    try:
        db["scp_codes"] = db["scp_codes"].map(ast.literal_eval)
    except (ValueError, KeyError, SyntaxError) as exc:
        raise ValueError(f"cannot read PTB-XL database table {path}: {exc}") from exc
    return db.sort_index()


def read_code_classes(path: Path) -> dict[str, str]:
    """SCP code → diagnostic superclass, for the diagnostic statements of ``scp_statements.csv``."""
    try:
        table = pd.read_csv(path, index_col=0)
        diagnostic = table[(table["diagnostic"] == 1) & table["diagnostic_class"].notna()]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read PTB-XL statements table {path}: {exc}") from exc
    check_table(diagnostic, path)
    return diagnostic["diagnostic_class"].to_dict()


def record_label(scp_codes: dict[str, float], code_classes: dict[str, str]) -> int | None:
    """Superclass index of the highest-likelihood code, or None when it is not one of the five.

    Ties go to the code listed first (Python's ``max``), as in the published code.
    """
    if not scp_codes:
        return None
    top = max(scp_codes, key=scp_codes.get)
    cls = code_classes.get(top)
    return SUPERCLASSES.index(cls) if cls in SUPERCLASSES else None


def select_records(db: pd.DataFrame, code_classes: dict[str, str]) -> pd.DataFrame:
    """Records of the patients whose every record has the same label among the five, with ``label``."""
    db = db.copy()
    db["label"] = [record_label(c, code_classes) for c in db["scp_codes"]]
    per_patient = db.groupby("patient_id")["label"].agg(lambda s: s.iloc[0] if s.notna().all() and s.nunique() == 1 else None)
    keep = per_patient[per_patient.notna()].index
    kept = db[db["patient_id"].isin(keep)].copy()
    kept["label"] = kept["label"].astype(np.int64)
    kept["patient_id"] = kept["patient_id"].astype(np.int64)
    kept["site"] = kept["site"].fillna(-1).astype(np.int64)
    dropped = db["patient_id"].nunique() - len(keep)
    print(f"ptbxl: {len(keep)} patients kept, {dropped} dropped (records disagree or outside the five superclasses)", file=sys.stderr)
    return kept


def record_windows(record: Path) -> np.ndarray:
    """Ten standardised 1 s windows (10, 12, 250) of one 500 Hz record (path without extension)."""
    import wfdb

    try:
        rec = wfdb.rdrecord(str(record))
    except Exception as exc:  # wfdb raises ValueError, IndexError, FileNotFoundError, ... on bad headers
        raise ValueError(f"cannot read WFDB record {record}.hea/.dat: {type(exc).__name__}: {exc}") from exc
    names = [str(n).upper() for n in (rec.sig_name or [])]
    if sorted(names) != sorted(LEADS):
        raise ValueError(f"WFDB record {record}.hea: leads {rec.sig_name} differ from PTB-XL's 12 ({', '.join(LEADS)})")
    signal = rec.p_signal
    if rec.fs != SOURCE_FS or signal is None or signal.shape[1] != len(LEADS) or signal.shape[0] < N_WINDOWS * SOURCE_FS:
        shape = None if signal is None else signal.shape
        raise ValueError(
            f"WFDB record {record}.hea: expected {len(LEADS)} leads × ≥{N_WINDOWS} s at {SOURCE_FS} Hz, got fs={rec.fs}, signal {shape}"
        )
    signal = signal[:, [names.index(lead) for lead in LEADS]]  # by name: the arrays follow LEADS
    if not np.isfinite(signal).all():
        raise ValueError(f"WFDB record {record}.dat holds non-finite samples")
    x = ts.interpolate(signal[: N_WINDOWS * SOURCE_FS].T, SOURCE_FS, TARGET_FS)
    return ts.standardised_windows(ts.standardise(x), TARGET_FS, N_WINDOWS)


def demo_statements() -> pd.DataFrame:
    """The rows of ``scp_statements.csv`` the demo twin uses, with the real columns' meaning."""
    rows = {
        "NORM": ("normal ECG", 1.0, None, None, "NORM", "NORM"),
        "IMI": ("inferior myocardial infarction", 1.0, None, None, "MI", "IMI"),
        "AMI": ("anterior myocardial infarction", 1.0, None, None, "MI", "AMI"),
        "NDT": ("non-diagnostic T abnormalities", 1.0, 1.0, None, "STTC", "STTC"),
        "ISC_": ("non-specific ischemic", 1.0, None, None, "STTC", "ISC_"),
        "CLBBB": ("complete left bundle branch block", 1.0, None, None, "CD", "CLBBB"),
        "IRBBB": ("incomplete right bundle branch block", 1.0, None, None, "CD", "IRBBB"),
        "LVH": ("left ventricular hypertrophy", 1.0, None, None, "HYP", "LVH"),
        "SR": ("sinus rhythm", None, None, 1.0, None, None),
        "AFLT": ("atrial flutter", None, None, 1.0, None, None),
    }
    columns = ["description", "diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def write_sha256sums(root: Path, out: Path) -> None:
    from fhbench.data.download import file_digest

    lines = [f"{file_digest(p)}  {p.relative_to(root).as_posix()}" for p in sorted(root.rglob("*")) if p.is_file() and p != out]
    out.write_text("\n".join(lines) + "\n")


DATASET = PTBXL()
