"""Waiting on a child process with a bound: every read has a timeout, every wait a deadline, and
running out of either fails the test with what was awaited and what was seen, never a hang.

The bounds are generous (minutes): they exist to end a hung test on a loaded machine, not to
time anything, so a slow machine passes where a fast one does.
"""

from __future__ import annotations

import os
import queue
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

CHILD_TIMEOUT_S = 300  # the longest any single awaited event may take on a busy 2-core CI machine


class LineReader:
    """Lines of a child's text stream, read by a thread so that waiting for the next one has a timeout."""

    def __init__(self, stream: IO[str]):
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)  # end of stream

    def next_line(self, what: str, timeout: float = CHILD_TIMEOUT_S) -> str:
        """The next line; fails if none comes within ``timeout`` seconds or the stream ends first."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line within {timeout:.0f} s while waiting for {what}")
        if line is None:
            pytest.fail(f"the child's output ended while waiting for {what}")
        return line


def read_until_closed(fd: int, what: str, timeout: float = CHILD_TIMEOUT_S) -> bytes:
    """Everything written to ``fd`` (a pipe or a pseudo-terminal) until the writer closes it."""
    deadline = time.monotonic() + timeout
    output = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"{what} still open after {timeout:.0f} s; the output so far ends:\n{output.decode(errors='replace')[-3000:]}")
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # a pseudo-terminal whose other side closed: the process has ended
            return output
        if not chunk:
            return output
        output += chunk


def wait_until(condition: Callable[[], object], what: str, timeout: float = CHILD_TIMEOUT_S, interval: float = 0.05, seen=lambda: ""):
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds naming ``what`` and ``seen()``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {what} after {timeout:.0f} s. {seen()}".rstrip())
        time.sleep(interval)


def descendants(pid: int) -> list[int]:
    """``pid``'s living descendants (Linux /proc), parents before their children."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # ended while being read
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop(0)
        out.append(child)
        todo += children.get(child, [])
    return out


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """``pid`` and its descendants stopped (SIGSTOP) for the duration: what is looked at meanwhile
    cannot move on, however fast or slow the machine. Parents stop first, so none forks after the
    listing; a second listing catches a child forked just before its parent stopped."""
    stopped: list[int] = []

    def stop(pids: list[int]) -> None:
        for p in pids:
            try:
                os.kill(p, signal.SIGSTOP)
                stopped.append(p)
            except ProcessLookupError:
                pass

    try:
        stop([pid, *descendants(pid)])
        stop([p for p in descendants(pid) if p not in stopped])
        yield
    finally:
        for p in stopped:
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
