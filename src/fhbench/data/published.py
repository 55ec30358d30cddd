"""The sources' published figures (docs/protocol: datasets), and checking data against them.

Each dataset module holds its published figures as data (``PUBLISHED``: file, recording,
patient and sample counts, samples per class) and counts the same figures in a raw download
(:meth:`fhbench.data.base.Dataset.source_figures`). ``fhbench verify-source`` prints both side by
side with the raw folder's file and checksum check; ``prepare`` stores the comparison of the
prepared data in ``info.json`` under ``published_figures``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from fhbench.data.base import Dataset

# Metadata columns whose distinct values are counted as a figure of the same name.
GROUP_FIGURES = {"patient": "patients", "subject": "subjects", "recording": "recordings"}


def matches(published, found, tolerance: float = 0.0) -> bool:
    """Equal, or within ``tolerance`` (relative) for a figure the source only gives roughly."""
    if isinstance(published, (list, tuple)):
        return (
            isinstance(found, (list, tuple))
            and len(found) == len(published)
            and all(matches(p, f, tolerance) for p, f in zip(published, found))
        )
    if found is None:
        return False
    return abs(found - published) <= tolerance * abs(published)


def compare_figures(published: dict, found: dict, tolerance: dict | None = None) -> dict:
    """``{figure: {published, found, match}}`` for every published figure ``found`` has."""
    tolerance = tolerance or {}
    return {
        name: {"published": value, "found": found[name], "match": matches(value, found[name], tolerance.get(name, 0.0))}
        for name, value in published.items()
        if name in found
    }


def prepared_figures(labels, metadata: pd.DataFrame, n_classes: int) -> dict:
    """Samples, samples per class and distinct patients/subjects/recordings of prepared data."""
    labels = np.asarray(labels, dtype=np.int64)
    figures = {"samples": int(len(labels)), "class_counts": np.bincount(labels, minlength=n_classes).tolist()}
    for column, name in GROUP_FIGURES.items():
        if column in metadata.columns:
            figures[name] = int(metadata[column].nunique())
    return figures


def manifest_rows(raw_dir: str | Path, checksums: bool = True) -> list[dict]:
    """Files listed in ``MANIFEST.json`` at acquisition against what the folder holds now."""
    from fhbench.data.download import file_digest

    raw_dir = Path(raw_dir)
    manifest_path = raw_dir / "MANIFEST.json"
    if not manifest_path.exists():
        return [{"figure": "files (MANIFEST.json)", "published": "-", "found": "no MANIFEST.json", "match": False}]
    listed = json.loads(manifest_path.read_text())["sha256"]
    missing = sorted(name for name in listed if not (raw_dir / name).is_file())
    rows = [
        {
            "figure": "files (MANIFEST.json)",
            "published": len(listed),
            "found": len(listed) - len(missing),
            "match": not missing,
            "note": f"missing: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}" if missing else "",
        }
    ]
    if checksums:
        changed = sorted(name for name, digest in listed.items() if name not in missing and file_digest(raw_dir / name) != digest)
        size = sum((raw_dir / n).stat().st_size for n in listed if n not in missing)
        rows.append(
            {
                "figure": "sha256 as acquired",
                "published": len(listed) - len(missing),
                "found": len(listed) - len(missing) - len(changed),
                "match": not changed,
                "note": f"changed: {', '.join(changed[:5])}" if changed else f"{size / 1e6:.1f} MB",
            }
        )
    return rows


def verify_source(dataset: "Dataset", raw_dir: str | Path, checksums: bool = True) -> list[dict]:
    """Every check of a raw download: files and checksums, then the published figures."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir} is not a folder; acquire {dataset.key} first")
    rows = manifest_rows(raw_dir, checksums)
    if checksums:
        rows += dataset.published_checksums(raw_dir)
    found = dataset.source_figures(raw_dir)
    for name, row in compare_figures(dataset.published, found, dataset.published_tolerance).items():
        note = f"± {dataset.published_tolerance[name]:.0%}" if name in dataset.published_tolerance else ""
        rows.append({"figure": name, **row, "note": note})
    return rows


def format_table(key: str, rows: list[dict]) -> str:
    """The rows as an aligned text table, one status word per row."""

    def cell(v) -> str:
        if isinstance(v, list):
            return "/".join(f"{x:,}" if isinstance(x, (int, np.integer)) else str(x) for x in v)
        return f"{v:,}" if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else str(v)

    header = ("figure", "published", "found", "status", "")
    body = [(r["figure"], cell(r["published"]), cell(r["found"]), "ok" if r["match"] else "MISMATCH", r.get("note", "")) for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [f"{key}: source check"] + ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *body]]
    return "\n".join(lines)
