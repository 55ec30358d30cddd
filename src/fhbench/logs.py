"""Sending a workflow step's output to its log file (Snakemake scripts call this first).

A step that fails ends its log with the one error line of :mod:`fhbench.errors` (after the
traceback) and shows that line on the console; bad input exits with status 2. Snakemake
retries every failed job of a rule with ``retries:`` (an integer in Snakemake 9); a retry of a
job that failed on bad input, with no input changed since, stops at once with the same line
instead of doing the work again (:func:`skip_failed_retry`).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

BAD_INPUT_MARK = "fhbench: bad input (exit status 2); a retry with the same inputs stops here"


def to_log_file(path: str | Path) -> None:
    """Redirect stdout, stderr and Python logging of this process to ``path`` (line-buffered)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "w", buffering=1)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, force=True)
    report_errors(path)


def report_errors(log: str | Path) -> None:
    """Install a ``sys.excepthook`` that ends ``log`` with the traceback and the one error line."""
    from fhbench.errors import BAD_INPUT_EXIT, error_line, expected_error

    def hook(kind, error, tb):
        code = expected_error(error) if isinstance(error, Exception) else None
        line = getattr(error, "line", None) or error_line(error)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            with open(log, "a") as out:
                if not getattr(error, "line", None):  # a worker's error: its traceback is in the log already
                    traceback.print_exception(kind, error, tb, file=out)
                if code == BAD_INPUT_EXIT:
                    print(BAD_INPUT_MARK, file=out)
                print(line, file=out)
        except OSError:
            traceback.print_exception(kind, error, tb, file=sys.__stderr__)
        print(f"{line} (log: {log})", file=sys.__stderr__, flush=True)
        os._exit(code or 1)

    sys.excepthook = hook


def skip_failed_retry(log: str | Path, inputs, attempt: int) -> None:
    """On a retry (``attempt`` > 1): when the previous attempt ended on bad input and no input
    changed since, end now with the same error line (exit 2), before any import or work."""
    log = Path(log)
    if attempt <= 1 or not log.is_file():
        return
    lines = log.read_text(errors="replace").rstrip("\n").splitlines()
    if len(lines) < 2 or lines[-2] != BAD_INPUT_MARK:
        return
    since = log.stat().st_mtime
    for name in inputs:
        for root, _, files in os.walk(name) if os.path.isdir(name) else [(os.path.dirname(name), [], [os.path.basename(name)])]:
            for file in files:
                try:
                    if os.stat(os.path.join(root, file)).st_mtime > since:
                        return  # an input changed: try again for real
                except OSError:
                    return
    with open(log, "a") as out:
        print(f"attempt {attempt}: inputs unchanged since the bad-input failure, not run again", file=out)
        print(BAD_INPUT_MARK, file=out)
        print(lines[-1], file=out)
    print(f"{lines[-1]} (log: {log})", file=sys.__stderr__, flush=True)
    os._exit(2)
