"""fhbench.provenance: git state, versions, device, content hashes, cost, and the report summary."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import types
from datetime import datetime
from pathlib import Path

import pytest

from fhbench import provenance
from tests.conftest import REPO

GIT_ENV = dict(
    os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid"
)


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True, timeout=60).stdout.strip()


def test_git_state_reports_the_commit_and_a_dirty_tree(tmp_path):
    assert provenance.git_state(tmp_path) == {"commit": None, "dirty": None}
    git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git(tmp_path, "add", "a.py")
    git(tmp_path, "commit", "-qm", "one")
    head = git(tmp_path, "rev-parse", "HEAD")
    assert provenance.git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "untracked.txt").write_text("results are not code")
    assert provenance.git_state(tmp_path)["dirty"] is False
    (tmp_path / "a.py").write_text("x = 2\n")
    assert provenance.git_state(tmp_path) == {"commit": head, "dirty": True}


def test_this_checkout_is_a_git_checkout():
    """With no argument, git_state reports the checkout fhbench is imported from, as git itself does."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=60)
    assert head.returncode == 0, f"{REPO} is not a git checkout: {head.stderr.strip()}"
    changed = git(REPO, "status", "--porcelain", "--untracked-files=no")
    assert provenance.git_state() == {"commit": head.stdout.strip(), "dirty": bool(changed)}
    assert len(head.stdout.strip()) == 40


def test_versions_name_python_and_the_packages():
    found = provenance.versions()
    assert set(found) == {"python", "torch", "transformers", "peft", "fhbench"}
    assert found["python"].count(".") == 2 and found["torch"] and found["fhbench"]
    assert provenance.versions(["no-such-package-xyz"])["no-such-package-xyz"] is None


def test_device_info_on_cpu():
    info = provenance.device_info("cpu")
    assert info["type"] == "cpu" and info["cpu"]
    assert "gpu" not in info


def test_content_hash_of_a_file_and_a_folder(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert provenance.content_hash(f) == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    a, b = tmp_path / "a", tmp_path / "b"
    for root, order in ((a, ("one", "two")), (b, ("two", "one"))):  # creation order does not matter
        (root / "sub").mkdir(parents=True)
        for name in order:
            (root / "sub" / name).write_text(name)
    (b / ".snakemake_timestamp").write_text("")  # Snakemake's marker is not data
    assert provenance.content_hash(a) == provenance.content_hash(b)
    (b / "sub" / "one").write_text("changed")
    assert provenance.content_hash(a) != provenance.content_hash(b)
    (b / "sub" / "one").write_text("one")
    (b / "sub" / "one").rename(b / "sub" / "three")  # same bytes, other name
    assert provenance.content_hash(a) != provenance.content_hash(b)
    with pytest.raises(FileNotFoundError, match="nothing to hash"):
        provenance.content_hash(tmp_path / "missing")


def test_collect_has_every_field(tmp_path):
    (tmp_path / "split.json").write_text("[]")
    started = provenance.now()
    block = provenance.collect(started, {"split": tmp_path / "split.json"}, device="cpu")
    assert set(block) == {"git", "versions", "device", "host", "started", "finished", "inputs"}
    assert block["inputs"]["split"]["hash"] == provenance.content_hash(tmp_path / "split.json")
    assert datetime.fromisoformat(block["finished"]) >= datetime.fromisoformat(started)
    assert block["device"]["type"] == "cpu" and provenance.collect(started, {})["device"]["type"] == "cpu"  # the default device


def test_cost_counts_from_the_given_start():
    # Starts 100 s (wall) and 50 s (CPU) in the past: the cost is those plus what passed since, no more.
    wall0, cpu0 = time.perf_counter(), time.process_time()
    used = provenance.cost(wall0 - 100.0, cpu0 - 50.0)
    wall_spent, cpu_spent = time.perf_counter() - wall0, time.process_time() - cpu0
    assert 100.0 - 0.005 <= used["wall_seconds"] <= 100.0 + wall_spent + 0.005
    assert 50.0 - 0.005 <= used["cpu_seconds"] <= 50.0 + cpu_spent + 0.005
    assert "gpu_peak_mb" not in used


PEAK_CHILD = """
import json, os, time
from fhbench import provenance

def resident_mb():  # the current resident set (statm), a counter apart from any peak
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

before = resident_mb()
junk = bytearray(256 * 2**20)
junk[::4096] = b"x" * len(junk[::4096])  # touch every page: 256 MB resident
print(json.dumps({"before": before, "after": resident_mb(), "cost": provenance.cost(time.perf_counter(), time.process_time())}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="statm is Linux's")
def test_cost_reports_the_peak_memory_of_this_process_not_of_its_parent():
    # A fresh process touches 256 MB: its peak is what it holds then (nothing was freed), within
    # 2 MB (measured: 0.1). It is spawned by a parent holding 400 MB more, which the child's
    # own peak must not include (getrusage's ru_maxrss carries a parent's size across exec).
    ballast = bytearray(400 * 2**20)
    ballast[::4096] = b"x" * len(ballast[::4096])
    env = dict(os.environ, PYTHONPATH=str(Path(provenance.__file__).parents[1]))  # the fhbench under test
    done = subprocess.run([sys.executable, "-c", PEAK_CHILD], capture_output=True, text=True, timeout=300, env=env)
    del ballast
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert seen["after"] - seen["before"] >= 250  # the allocation itself is real
    assert seen["after"] - 1 <= seen["cost"]["peak_rss_mb"] <= seen["after"] + 2


def test_summarise_flags_mixed_code_and_sums_cost():
    def info(commit, dirty, wall, started):
        prov = {
            "git": {"commit": commit, "dirty": dirty},
            "versions": {"python": "3.11.7", "torch": "2.13.0"},
            "device": {"type": "cpu", "cpu": "Xeon"},
            "host": "h",
            "started": started,
            "finished": started,
        }
        return {"wall_seconds": wall, "cpu_seconds": wall / 2, "peak_rss_mb": wall, "provenance": prov}

    summary = provenance.summarise(
        [info("a" * 40, False, 3600, "2026-01-02T00:00:00+00:00"), info("b" * 40, True, 1800, "2026-01-01T00:00:00+00:00")]
    )
    assert summary["commits"] == ["aaaaaaaaaaaa", "bbbbbbbbbbbb (dirty)"]
    assert summary["wall_hours"] == 1.5 and summary["cpu_hours"] == 0.75 and summary["peak_rss_mb"] == 3600
    assert summary["first_start"].startswith("2026-01-01") and summary["last_end"].startswith("2026-01-02")
    assert summary["devices"] == ["Xeon"] and summary["hosts"] == ["h"]
    old = provenance.summarise([{"status": "completed"}])  # run.json written before provenance existed
    assert old["with_provenance"] == 0 and old["commits"] == []


def test_summarise_names_gpus_versions_and_counts_what_is_missing():
    gpu = {
        "git": {"commit": "c" * 40, "dirty": False},
        "versions": {"python": "3.11.7", "torch": "2.13.0", "peft": None},  # a package not installed is left out
        "device": {"type": "cuda", "cpu": "Xeon", "gpu": "NVIDIA H100", "cuda": "12.8"},
        "host": "node2",
        "started": "2026-01-03T00:00:00+00:00",
        "finished": "2026-01-03T01:00:00+00:00",
    }
    cpu = dict(gpu, device={"type": "cpu", "cpu": "Xeon"}, host="node1", versions={"python": "3.11.7"})
    infos = [
        {"wall_seconds": 1, "cpu_seconds": 1, "peak_rss_mb": 10.0, "gpu_peak_mb": 512.0, "provenance": gpu},
        {"wall_seconds": 1, "provenance": cpu},  # no cpu_seconds or memory recorded
        {"status": "completed"},  # no provenance at all
    ]
    summary = provenance.summarise(infos)
    assert summary["runs"] == 3 and summary["with_provenance"] == 2
    assert summary["devices"] == ["NVIDIA H100 (CUDA 12.8)", "Xeon"]
    assert summary["versions"] == ["python 3.11.7", "python 3.11.7, torch 2.13.0"]
    assert summary["hosts"] == ["node1", "node2"] and summary["commits"] == ["cccccccccccc"]
    # 2 s and 1 s are 0.000556 h and 0.000278 h: three decimals, as the report prints them
    assert summary["wall_hours"] == 0.001 and summary["cpu_hours"] == 0.0
    assert summary["peak_rss_mb"] == 10.0 and summary["gpu_peak_mb"] == 512.0
    none = provenance.summarise([])
    assert none["runs"] == 0 and none["peak_rss_mb"] == 0 and none["gpu_peak_mb"] == 0 and none["first_start"] is None
    assert provenance.summarise([{"wall_seconds": 1, "peak_rss_mb": 5.0}, {}])["peak_rss_mb"] == 5.0


def test_defaults_describe_the_cpu_in_utc():
    assert provenance.device_info()["type"] == "cpu" and "gpu" not in provenance.device_info()
    stamp = provenance.now()
    assert stamp.endswith("+00:00") and len(stamp) == len("2026-01-01T00:00:00+00:00")


def test_folder_hash_by_hand(tmp_path):
    # sha256 over "<relative name>\0<sha256 of the file>\n" lines, names sorted, as the docstring says.
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.txt").write_bytes(b"bee")
    (tmp_path / "d" / "sub" / "a.txt").write_bytes(b"ay")
    lines = "".join(f"{name}\0{hashlib.sha256(data).hexdigest()}\n" for name, data in (("b.txt", b"bee"), ("sub/a.txt", b"ay")))
    assert provenance.content_hash(tmp_path / "d") == "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def test_the_getrusage_fallback_is_in_megabytes_too():
    # ru_maxrss covers at least this process's own peak (and, after exec, maybe its parent's).
    own, fallback = provenance.peak_rss_mb(), provenance.rusage_peak_mb()
    assert own - 1 <= fallback < 64 * 1024 and fallback == round(fallback, 1)


def test_git_state_of_a_checkout_whose_status_fails_has_a_commit_but_unknown_dirtiness(tmp_path):
    """When git can name HEAD but cannot compute the status (here a corrupt index), ``dirty`` is
    None ("unknown"), never a clean-looking False."""
    git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git(tmp_path, "add", "a.py")
    git(tmp_path, "commit", "-qm", "one")
    head = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / ".git" / "index").write_bytes(b"not an index")
    assert subprocess.run(["git", "-C", str(tmp_path), "status", "--porcelain"], capture_output=True, timeout=60).returncode != 0
    assert provenance.git_state(tmp_path) == {"commit": head, "dirty": None}


def test_git_state_never_waits_forever_on_git(tmp_path, monkeypatch):
    """Every git call is bounded by a finite timeout (a hung git must not hang a run's start)."""
    seen = []
    real_run = subprocess.run

    def spy(*args, **kwargs):  # records the call, then runs the real git
        seen.append(kwargs)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(provenance.subprocess, "run", spy)
    provenance.git_state(REPO)
    assert len(seen) == 2  # rev-parse, then status
    assert all(k.get("timeout") is not None and 0 < k["timeout"] <= 60 for k in seen)


def test_cpu_model_reads_the_model_name_line_of_cpuinfo(tmp_path, monkeypatch):
    """The CPU model is the text after the first ':' of cpuinfo's "model name" line (colons inside
    the name kept, surrounding blanks dropped); without cpuinfo, what platform says."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nModel Name\t:  Intel(R) Xeon(R) Gold: 6226R @ 2.90GHz \nflags\t: fpu\n")
    real_path = provenance.Path
    monkeypatch.setattr(provenance, "Path", lambda p: real_path(cpuinfo if p == "/proc/cpuinfo" else p))
    assert provenance.cpu_model() == "Intel(R) Xeon(R) Gold: 6226R @ 2.90GHz"
    cpuinfo.unlink()  # no cpuinfo (macOS, Windows): platform.processor(), else the machine type
    monkeypatch.setattr(provenance.platform, "processor", lambda: "")
    monkeypatch.setattr(provenance.platform, "machine", lambda: "arm64")
    assert provenance.cpu_model() == "arm64"
    monkeypatch.setattr(provenance.platform, "processor", lambda: "i386")
    assert provenance.cpu_model() == "i386"


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="cpuinfo is Linux's")
def test_cpu_model_on_linux_is_the_cpuinfo_model_name():
    """On this machine the model is /proc/cpuinfo's first "model name" value, read here by hand."""
    names = [line.partition(":")[2].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
    if not names:
        pytest.skip("this cpuinfo has no model name line")
    assert provenance.cpu_model() == names[0]


class FakeCuda:
    """Stands in for torch's CUDA queries on a machine without a GPU; records the devices asked about."""

    def __init__(self):
        self.asked = []

    def get_device_name(self, device):
        self.asked.append(device)
        return "NVIDIA H100 80GB HBM3"

    def max_memory_allocated(self, device):
        self.asked.append(device)
        return 1_234_567_890  # bytes: 1177.3757 MiB


def fake_torch(monkeypatch):
    torch = type(sys)("torch")
    torch.cuda = FakeCuda()
    torch.version = type(sys)("torch.version")
    torch.version.cuda = "12.8"
    monkeypatch.setitem(sys.modules, "torch", torch)
    return torch


def test_device_info_on_cuda_names_the_gpu_and_cuda(monkeypatch):
    """A CUDA device ("cuda:1" or a torch.device-like object with .type) is typed "cuda" (index
    dropped) and records the GPU's name for that very device and torch's CUDA version."""
    torch = fake_torch(monkeypatch)
    info = provenance.device_info("cuda:1")
    assert info["type"] == "cuda" and info["cpu"] == provenance.cpu_model()
    assert info["gpu"] == "NVIDIA H100 80GB HBM3" and info["cuda"] == "12.8"
    assert set(info) == {"type", "cpu", "gpu", "cuda"}
    device = types.SimpleNamespace(type="cuda", index=0)
    assert provenance.device_info(device)["gpu"] == "NVIDIA H100 80GB HBM3"
    assert torch.cuda.asked == ["cuda:1", device]
    assert provenance.device_info(types.SimpleNamespace(type="cpu")) == {"type": "cpu", "cpu": provenance.cpu_model()}


def test_device_info_on_cuda_without_torch_loaded_names_no_gpu(monkeypatch):
    """Provenance never imports torch itself: without torch loaded, a CUDA run records type and CPU only."""
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert provenance.device_info("cuda:0") == {"type": "cuda", "cpu": provenance.cpu_model()}
    assert "torch" not in sys.modules


def test_cost_on_cuda_adds_the_peak_gpu_memory_in_mib(monkeypatch):
    """On CUDA the cost has the device's peak allocated memory in MiB, one decimal; not on CPU."""
    torch = fake_torch(monkeypatch)
    now_wall, now_cpu = time.perf_counter(), time.process_time()
    for device in ("cuda:0", types.SimpleNamespace(type="cuda", index=0)):
        used = provenance.cost(now_wall, now_cpu, device)
        assert used["gpu_peak_mb"] == 1177.4  # 1_234_567_890 / 2**20 = 1177.3757
        assert set(used) == {"wall_seconds", "cpu_seconds", "peak_rss_mb", "gpu_peak_mb"}
    assert torch.cuda.asked[0] == "cuda:0" and torch.cuda.asked[1].type == "cuda"
    assert "gpu_peak_mb" not in provenance.cost(now_wall, now_cpu, "cpu")
    monkeypatch.delitem(sys.modules, "torch")
    assert "gpu_peak_mb" not in provenance.cost(now_wall, now_cpu, "cuda:0")


def test_cost_rounds_seconds_to_hundredths():
    """Wall and CPU seconds are floats rounded to two decimals (what run.json stores)."""
    used = provenance.cost(time.perf_counter() - 1000.0043, time.process_time() - 500.0047)
    for key, start in (("wall_seconds", 1000.0043), ("cpu_seconds", 500.0047)):
        assert isinstance(used[key], float) and used[key] == round(used[key], 2)
        assert start - 0.01 <= used[key]
    assert isinstance(used["peak_rss_mb"], float) and used["peak_rss_mb"] > 0


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="/proc/self/status is Linux's")
def test_peak_rss_is_vmhwm_in_mib_with_one_decimal():
    """On Linux the peak is /proc/self/status's VmHWM (kB) / 1024, rounded to one decimal."""

    def vmhwm_kb():
        return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))

    low = vmhwm_kb()
    got = provenance.peak_rss_mb()
    high = vmhwm_kb()
    assert isinstance(got, float) and got == round(got, 1)
    assert round(low / 1024, 1) <= got <= round(high / 1024, 1)
    if low == high:
        assert got == round(low / 1024, 1)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="/proc/self/status is Linux's")
def test_peak_rss_on_linux_never_falls_back_to_getrusage(monkeypatch):
    """Where /proc is readable the peak is VmHWM, not ru_maxrss (which, after exec, can be the
    parent's): a getrusage that would answer -1 is never asked."""
    monkeypatch.setattr(provenance, "rusage_peak_mb", lambda: -1.0)
    got = provenance.peak_rss_mb()
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    assert 0 < got <= round(hwm / 1024, 1)


@pytest.mark.parametrize(
    ("platform_name", "maxrss", "expected"), [("linux", 3_000_000, 2929.7), ("darwin", 3 * 2**30 + 2**20 * 2 // 10, 3072.2)]
)
def test_getrusage_peak_is_kilobytes_on_linux_and_bytes_on_macos(monkeypatch, platform_name, maxrss, expected):
    """ru_maxrss is in kB on Linux and in bytes on macOS: both give MiB with one decimal
    (3,000,000 kB = 2929.69 MiB; 3 GiB + 0.2 MiB in bytes = 3072.2 MiB)."""
    monkeypatch.setattr(provenance.sys, "platform", platform_name)
    monkeypatch.setattr(provenance.resource, "getrusage", lambda who: types.SimpleNamespace(ru_maxrss=maxrss))
    got = provenance.rusage_peak_mb()
    assert isinstance(got, float) and got == expected


def test_collect_records_each_input_path_and_its_hash(tmp_path):
    """Each input is recorded as {"path": the path as given, "hash": sha256 of its bytes}."""
    data = tmp_path / "data.bin"
    data.write_bytes(b"weights")
    block = provenance.collect(provenance.now(), {"weights": data})
    assert block["inputs"] == {"weights": {"path": str(data), "hash": "sha256:" + hashlib.sha256(b"weights").hexdigest()}}


def test_summarise_counts_missing_cost_fields_as_zero():
    """Runs without recorded wall time or memory add nothing: 1 h over ten runs, nine of which
    record none, is 1.0 h; runs recording no memory peak give 0, not a made-up 1 MB."""
    infos = [{"wall_seconds": 3600, "cpu_seconds": 7200}] + [{"status": "completed"}] * 9
    summary = provenance.summarise(infos)
    assert summary["wall_hours"] == 1.0 and summary["cpu_hours"] == 2.0
    assert summary["peak_rss_mb"] == 0 and summary["gpu_peak_mb"] == 0


def test_summarise_sorts_values_of_mixed_types_by_their_text():
    """A hand-edited or foreign run.json may hold a non-string value (a numeric host name): the
    report still lists each distinct value once, ordered by its text, instead of failing."""
    infos = [{"provenance": {"host": "node1"}}, {"provenance": {"host": 7}}, {"provenance": {"host": "node1"}}]
    assert provenance.summarise(infos)["hosts"] == [7, "node1"]
