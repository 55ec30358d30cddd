"""Where a result came from: code version, software, machine, time, and the exact inputs.

Every federated run records :func:`collect` in its ``run.json`` (``provenance``) together with
its own cost (:func:`cost`), and REPORT.md opens with :func:`summarise` over all runs. Nothing
here imports torch unless the caller already has: ``snakemake -n`` and the report stay quick.
"""

from __future__ import annotations

import hashlib
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "transformers", "peft", "fhbench")
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout fhbench is imported from


def now() -> str:
    """The current time, UTC, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_state(root: str | Path = SOURCE_ROOT) -> dict:
    """``{"commit", "dirty"}`` of the git checkout at ``root``; both None outside a checkout
    (an installed wheel, a copy without .git). Dirty = tracked files differ from the commit."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def versions(packages: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Python's version and each installed package's (None when not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(device: object = "cpu") -> dict:
    """What computed: the CPU model always, and for a CUDA device its name and CUDA version."""
    info = {"type": str(getattr(device, "type", device)).split(":")[0], "cpu": cpu_model()}
    if info["type"] == "cuda" and "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def content_hash(path: str | Path) -> str:
    """``sha256:<hex>`` of a file, or of a folder's files (relative names and contents, in
    sorted order; Snakemake's timestamp marker skipped), read in chunks."""
    path = Path(path)
    if path.is_file():
        with path.open("rb") as f:
            return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: nothing to hash")
    total = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"):
        with file.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        total.update(f"{file.relative_to(path).as_posix()}\0{digest}\n".encode())
    return "sha256:" + total.hexdigest()


def collect(started: str, inputs: Mapping[str, str | Path], device: object = "cpu") -> dict:
    """The provenance block of one run: code, software, machine, start/end time and the content
    hashes of ``inputs`` (name → file or folder: prepared data, split, model weights)."""
    return {
        "git": git_state(),
        "versions": versions(),
        "device": device_info(device),
        "host": socket.gethostname(),
        "started": started,
        "finished": now(),
        "inputs": {name: {"path": str(p), "hash": content_hash(p)} for name, p in inputs.items()},
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (a forked worker child counts its own).

    On Linux the kernel's high-water mark of this process's own memory (VmHWM): getrusage's
    ru_maxrss survives exec, so a process spawned by a larger one (a job from a big Snakemake or
    pytest process) would report its parent's size instead of its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return rusage_peak_mb()


def rusage_peak_mb() -> float:
    """getrusage's peak resident memory in MB (where /proc is missing: macOS, BSD)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)  # macOS reports bytes


def cost(wall_start: float, cpu_start: float, device: object = "cpu") -> dict:
    """The run's own cost since ``wall_start``/``cpu_start`` (``time.perf_counter`` and
    ``time.process_time`` values): wall and CPU seconds, peak memory, and on CUDA peak GPU memory.
    Recorded by the run itself because under the warm worker Snakemake's benchmark files time
    only the job's hand-off to it."""
    out = {
        "wall_seconds": round(time.perf_counter() - wall_start, 2),
        "cpu_seconds": round(time.process_time() - cpu_start, 2),
        "peak_rss_mb": peak_rss_mb(),
    }
    if str(getattr(device, "type", device)).startswith("cuda") and "torch" in sys.modules:
        out["gpu_peak_mb"] = round(sys.modules["torch"].cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def summarise(infos: Iterable[Mapping]) -> dict:
    """What REPORT.md's provenance block says about a set of run.json contents: the distinct
    commits (with dirty flags), versions, devices and hosts, the time span, and total cost."""
    infos = list(infos)
    prov = [i.get("provenance") or {} for i in infos]

    def distinct(values: Iterable) -> list:
        return sorted({v for v in values if v is not None}, key=str)

    commits = distinct(
        f"{p['git']['commit'][:12]}{' (dirty)' if p['git'].get('dirty') else ''}" if p.get("git", {}).get("commit") else None for p in prov
    )
    versions_seen = distinct(", ".join(f"{k} {v}" for k, v in p["versions"].items() if v) if p.get("versions") else None for p in prov)
    devices = distinct(
        (p["device"].get("gpu") and f"{p['device']['gpu']} (CUDA {p['device'].get('cuda')})") or p["device"].get("cpu")
        if p.get("device")
        else None
        for p in prov
    )
    started = distinct(p.get("started") for p in prov)
    finished = distinct(p.get("finished") for p in prov)
    return {
        "runs": len(infos),
        "with_provenance": sum(1 for p in prov if p),
        "commits": commits,
        "versions": versions_seen,
        "devices": devices,
        "hosts": distinct(p.get("host") for p in prov),
        "first_start": started[0] if started else None,
        "last_end": finished[-1] if finished else None,
        "wall_hours": round(sum(i.get("wall_seconds", 0) for i in infos) / 3600, 3),
        "cpu_hours": round(sum(i.get("cpu_seconds", 0) for i in infos) / 3600, 3),
        "peak_rss_mb": max((i.get("peak_rss_mb", 0) for i in infos), default=0),
        "gpu_peak_mb": max((i.get("gpu_peak_mb", 0) for i in infos), default=0),
    }
