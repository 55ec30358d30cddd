"""Sending a workflow step's output to its log file (Snakemake scripts call this first)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def to_log_file(path: str | Path) -> None:
    """Redirect stdout, stderr and Python logging of this process to ``path`` (line-buffered)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "w", buffering=1)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, force=True)
