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
    ``target`` in one rename.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    work = tmp / target.name
    try:
        yield work
        if target.is_dir() and not target.is_symlink():
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
