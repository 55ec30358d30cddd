"""N runs on N GPUs: each process claims a distinct device, released however it exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from fhbench.devices import claim_device
from tests.bounded import LineReader
from tests.conftest import REPO

# The holder keeps its device until it is killed (it waits on a pipe that is never written),
# so no holder can let go early on a slow machine, as a timed sleep would.
HOLD = "import sys; from fhbench.devices import claim_device; print(claim_device(3, sys.argv[1]), flush=True); sys.stdin.read()"


def start_holder(lock_dir) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_dir)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = LineReader(proc.stdout).next_line("the device a holder claimed")
    except BaseException:
        proc.kill()
        proc.wait(timeout=30)
        raise
    assert line.strip().isdigit(), f"holder printed {line!r}"
    return proc, int(line)


def test_processes_claim_distinct_devices_and_a_killed_one_frees_its_device(tmp_path):
    first, a = start_holder(tmp_path)
    second, b = None, None
    try:
        second, b = start_holder(tmp_path)
        assert (a, b) == (0, 1)
        os.kill(first.pid, signal.SIGKILL)  # a preempted run: no clean-up code runs
        first.wait(timeout=30)
        third, c = start_holder(tmp_path)
        third.kill()
        third.wait(timeout=30)
        assert c == 0, "the device of a SIGKILLed run must be free again"
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def test_single_device_needs_no_lock(tmp_path):
    assert claim_device(1, tmp_path / "locks") == 0
    assert not (tmp_path / "locks").exists()
