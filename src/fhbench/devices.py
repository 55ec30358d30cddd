"""Which GPU a run uses when several runs share the GPUs of one machine.

Snakemake's ``gpu`` resource (``profiles/local``) caps how many runs start at once but does
not say which device each one gets. Every run therefore claims a free device itself: it holds
an exclusive ``flock`` on one lock file per device for as long as the process lives. The
kernel releases the lock when the process exits, however it exits (SIGKILL included), so a
preempted run never leaves a device blocked. Under Slurm a job sees only the GPUs it was
given, usually one, and no lock is needed.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
from pathlib import Path

# Open lock files of this process: closing one would release its device.
_HELD: dict[int, object] = {}


def default_lock_dir() -> Path:
    """Per-user folder of lock files; ``FHBENCH_GPU_LOCK_DIR`` overrides it."""
    return Path(os.environ.get("FHBENCH_GPU_LOCK_DIR") or Path(tempfile.gettempdir()) / f"fhbench-gpu-locks-{os.getuid()}")


def claim_device(count: int, lock_dir: str | os.PathLike | None = None) -> int:
    """Index (among the visible devices) of a device no other fhbench process holds.

    Parameters
    ----------
    count
        Number of visible devices (``torch.cuda.device_count()``).
    lock_dir
        Folder of the lock files, shared by all runs on the machine.

    Returns
    -------
    int
        The claimed index; the claim lasts until the process ends. With one device, 0 without
        locking. When every device is held (more runs than the ``gpu`` resource allows), the
        least-used choice is unknowable, so the PID spreads such runs over the devices.
    """
    if count <= 1:
        return 0
    for index in _HELD:
        if index < count:
            return index  # one claim per process
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    # Devices are named as the process sees them: keyed by CUDA_VISIBLE_DEVICES, so runs with
    # different visible sets do not share lock files for different physical devices.
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "all").replace(",", "_") or "none"
    for index in range(count):
        handle = open(lock_dir / f"{visible}.{index}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _HELD[index] = handle
        return index
    index = os.getpid() % count
    print(f"fhbench: all {count} GPUs are claimed by other runs; sharing GPU {index}", file=sys.stderr)
    return index
