"""Small helpers for writing outputs atomically, so a crash never leaves a half-written file."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto ``target`` only if the block succeeds.

    Works for files and directories: whatever the block creates at the yielded path replaces
    ``target`` in one rename. An existing directory is replaced only by a directory holding
    every name it holds (an earlier version of the same output), so that nothing this call did
    not write is ever deleted; otherwise :class:`fhbench.errors.InputError`, target untouched.
    """
    from fhbench.errors import InputError

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    work = tmp / target.name
    try:
        yield work
        if target.is_dir() and not target.is_symlink():
            if not work.is_dir():
                raise InputError(target, "is an existing directory; it would be replaced by a file", "give a file path")
            # Snakemake marks the directory outputs it made with this file: it is not the user's.
            foreign = sorted({p.name for p in target.iterdir()} - {p.name for p in work.iterdir()} - {".snakemake_timestamp"})
            if foreign:
                raise InputError(
                    target,
                    f"exists and holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}, which this output does not",
                    "remove the folder or choose another output path",
                )
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def write_texts(outputs: dict) -> None:
    """Write several text files, each atomically: ``{path: text}``."""
    for path, text in outputs.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text)
