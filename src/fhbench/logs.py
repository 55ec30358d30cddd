"""Sending a workflow step's output to its log file (Snakemake scripts call this first).

A step that fails ends its log with the one error line of :mod:`fhbench.errors` (after the
traceback) and shows that line on the console; bad input exits with status 2. Snakemake
retries every failed job of a rule with ``retries:`` (an integer in Snakemake 9, whatever the
cause); a retry of a job that failed on bad input in the same invocation, with no input changed
since, stops at once with the same line instead of doing the work again (:func:`skip_failed_retry`).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

BAD_INPUT_MARK = "fhbench: bad input (exit status 2) in snakemake run {run}; a retry in that run stops here"


def snakemake_run() -> str | None:
    """The Snakemake invocation this job belongs to: the newest ``.snakemake/log`` file (one per invocation).

    Snakemake 9 does not tell a script its attempt number; retries happen within one invocation.
    """
    logs = Path(".snakemake/log")
    names = sorted(p.name for p in logs.glob("*.snakemake.log")) if logs.is_dir() else []
    return names[-1] if names else None


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
                print(line, file=out)
            if code == BAD_INPUT_EXIT and snakemake_run():  # Snakemake deletes the log before a retry: a note beside it
                Path(f"{log}.bad-input").write_text(
                    BAD_INPUT_MARK.format(run=snakemake_run()) + "\n" + Path(log).read_text(errors="replace")
                )
        except OSError:
            traceback.print_exception(kind, error, tb, file=sys.__stderr__)
        print(f"{line} (log: {log})", file=sys.__stderr__, flush=True)
        os._exit(code or 1)

    sys.excepthook = hook


def skip_failed_retry(log: str | Path, inputs) -> None:
    """In a retry: when this job's previous attempt in the same Snakemake invocation ended on bad
    input (noted in ``<log>.bad-input``) and no input changed since, end now with the same error
    line (exit 2), before any work."""
    note = Path(f"{log}.bad-input")
    run = snakemake_run()
    if not note.is_file():
        return
    lines = note.read_text(errors="replace").splitlines()
    if run is None or len(lines) < 2 or lines[0] != BAD_INPUT_MARK.format(run=run) or _changed_since(inputs, note.stat().st_mtime):
        note.unlink(missing_ok=True)  # an earlier invocation's note, or new inputs: do the work
        return
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:  # the failed attempt's log (traceback included), then the same line again
        print("\n".join(lines[1:]), file=out)
        print("retry: inputs unchanged since the bad-input failure, not run again", file=out)
        print(lines[-1], file=out)
    print(f"{lines[-1]} (log: {log})", file=sys.__stderr__, flush=True)
    os._exit(2)


def _changed_since(inputs, since: float) -> bool:
    for name in inputs:
        walk = os.walk(name) if os.path.isdir(name) else [(os.path.dirname(name), [], [os.path.basename(name)])]
        for root, _, files in walk:
            for file in files:
                try:
                    if os.stat(os.path.join(root, file)).st_mtime > since:
                        return True
                except OSError:
                    return True
    return False
