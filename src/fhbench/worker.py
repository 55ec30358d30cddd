"""A warm worker: one process that has already imported torch, transformers and peft forks a
child for each job handed to it.

On these CPUs a fresh ``fhbench run`` spends about 8 s importing before its first SGD step
(transformers 5 alone takes about 6 s), which dwarfs a demo-scale run. When Snakemake executes
jobs locally and the config asks for it (``execution.warm_worker``), the workflow starts one
worker before the first job and stops it after the last; each run job then connects to it over a
Unix socket and waits for its forked child. The job process stays the one Snakemake waits for,
times and kills: when it dies, the worker's child notices its closed connection and kills itself,
and the run resumes from its checkpoint on the retry exactly as after a preemption.

Without a worker (Slurm jobs, other configs, or a worker that cannot be reached) :func:`call`
runs the job in its own process, so the results never depend on whether a worker was used.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Iterator

from fhbench.errors import ReportedError
from fhbench.registry import import_attribute

#: Environment variable holding the worker's socket path; job processes inherit it from Snakemake.
WORKER_ENV = "FHBENCH_WORKER"
#: What a worker imports before serving: everything a federated run needs for any backbone.
PRELOAD = (
    "fhbench.federation",
    "fhbench.batched",
    "transformers.models.vit.modeling_vit",
    "transformers.models.wav2vec2.modeling_wav2vec2",
    "transformers.models.roberta.modeling_roberta",
    "transformers.models.t5.modeling_t5",
    "peft",
    "torch.utils.tensorboard",  # tracking: tensorboard (0.5 s once here instead of in every run)
)
READY_TIMEOUT_S = 30.0


class WorkerError(RuntimeError):
    """A job handed to the warm worker failed, or the worker vanished while running it."""


class WorkerReportedError(WorkerError, ReportedError):
    """The job failed in the worker on an expected error (bad input, a download): its line and exit status as in-process."""

    def __init__(self, line: str, code: int, message: str):
        ReportedError.__init__(self, line, code, message)  # RuntimeError's __init__ comes first in the MRO


def resolve(target: str) -> Callable:
    """``"package.module:function"`` to the function; only fhbench's own functions are served."""
    module, _, name = target.partition(":")
    if not module.startswith("fhbench.") or not name:
        raise ValueError(f"worker target {target!r}: expected 'fhbench.<module>:<function>'")
    return import_attribute(target)


# --------------------------------------------------------------------------- client side


def call(target: str, kwargs: dict, log: str | Path | None = None):
    """Run ``target(**kwargs)`` with its output in ``log`` (default: this process's stdout and
    stderr): in the warm worker named by ``$FHBENCH_WORKER`` when one answers, else here."""
    kwargs = json.loads(json.dumps(kwargs, default=str))  # what the worker would receive: paths as strings
    connection = _connect(os.environ.get(WORKER_ENV))
    if connection is None:
        if log:
            from fhbench.logs import to_log_file

            to_log_file(log)
        return resolve(target)(**kwargs)
    if log:
        from fhbench.logs import report_errors

        report_errors(log)  # the worker's error line ends this job's log too
    request = {"target": target, "kwargs": kwargs, "cwd": os.getcwd(), "env": dict(os.environ)}
    with connection, _output_files(log) as fds:
        # The child writes to this job's own log or terminal: the open files travel with the request.
        socket.send_fds(connection, [b"F"], fds)
        connection.sendall(json.dumps(request).encode() + b"\n")
        reply = _read_line(connection)
    where = f"see {log}" if log else "see above"
    if reply is None:
        raise WorkerError(f"the warm worker ended without answering for {target} (killed, or out of memory?); {where}")
    reply = json.loads(reply)
    if not reply["ok"]:
        if reply.get("code"):  # bad input or a download/disk failure: the same line and status as in-process
            raise WorkerReportedError(
                reply["line"], reply["code"], f"{target} failed in the warm worker: {reply['error']} (traceback: {where})"
            )
        raise WorkerError(f"{target} failed in the warm worker: {reply['error']} (traceback: {where})")
    return reply["result"]


@contextlib.contextmanager
def _output_files(log: str | Path | None) -> Iterator[list[int]]:
    """File descriptors for the child's stdout and stderr."""
    if not log:
        yield [1, 2]
        return
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as stream:
        yield [stream.fileno(), stream.fileno()]


def _connect(address: str | None) -> socket.socket | None:
    if not address:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(address)
    except OSError:  # no such socket, or nobody listening: the worker is gone
        connection.close()
        return None
    return connection


def _read_line(connection: socket.socket) -> bytes | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data


# --------------------------------------------------------------------------- server side


def warm_caches() -> None:
    """Build once, before any fork, what each run would otherwise build for itself: transformers'
    table of checkpoint conversions (about 0.25 s of regular expressions in every
    ``from_pretrained``, a tenth of a demo run). Only when transformers is already imported."""
    if "transformers" not in sys.modules:
        return
    try:
        from transformers.conversion_mapping import get_checkpoint_conversion_mapping
    except ImportError:  # a transformers release without it: nothing to warm
        return
    get_checkpoint_conversion_mapping("vit")


def serve(address: str, owner_pid: int, preload: tuple[str, ...] = PRELOAD) -> None:
    """Listen on ``address``, fork a child per connection; exit when ``owner_pid`` ends."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    # Listening before the slow imports: jobs that connect meanwhile wait in the backlog.
    listener.listen(128)
    t0 = time.perf_counter()
    for module in preload:
        importlib.import_module(module)
    warm_caches()
    print(f"fhbench worker: {address} ready after {time.perf_counter() - t0:.1f} s of imports (owner pid {owner_pid})", flush=True)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    listener.settimeout(0.5)
    children: set[int] = set()
    try:
        while _alive(owner_pid):
            _reap(children)
            try:
                connection, _ = listener.accept()
            except socket.timeout:
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                os._exit(_serve_one(connection))
            children.add(pid)
            connection.close()  # the child holds it; its closing is how the child sees the job die
    finally:
        for pid in children:
            _kill(pid)
        listener.close()
        Path(address).unlink(missing_ok=True)
        print(f"fhbench worker: stopped ({'owner ended' if not _alive(owner_pid) else 'asked to'})", flush=True)


def _serve_one(connection: socket.socket) -> int:
    """In the forked child: run one request and answer; die with the connection."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    connection.settimeout(None)
    _, fds, _, _ = socket.recv_fds(connection, 1, 2)
    request = json.loads(_read_line(connection) or b"{}")
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    _adopt_output(fds)
    finished = threading.Event()

    def die_with_client():
        # The job process closed the connection before the answer: it was killed; so is the run.
        if not connection.recv(1) and not finished.is_set():
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=die_with_client, daemon=True).start()
    print(f"fhbench worker: pid {os.getpid()} runs {request['target']}", flush=True)
    try:
        result = resolve(request["target"])(**request["kwargs"])
        reply, code = {"ok": True, "result": result}, 0
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the job
        traceback.print_exc()
        from fhbench.errors import error_line, expected_error

        expected = expected_error(error) if isinstance(error, Exception) else None
        reply, code = {"ok": False, "error": f"{type(error).__name__}: {error}", "line": error_line(error), "code": expected}, 1
    sys.stdout.flush()
    sys.stderr.flush()
    finished.set()
    try:
        connection.sendall(json.dumps(reply, default=str).encode() + b"\n")
    except OSError:
        code = 1
    return code


def _adopt_output(fds: list[int]) -> None:
    """Make the job's files this child's fds 1 and 2, for Python, logging and C-level output alike."""
    for fd, target in zip(fds, (1, 2)):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        pass
    return True


def _reap(children: set[int]) -> None:
    for pid in list(children):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _exit_on_signal(signum, frame):
    raise SystemExit(0)


# --------------------------------------------------------------------------- lifecycle


class Worker:
    """A started worker process and its socket (what :func:`start` returns)."""

    def __init__(self, process: subprocess.Popen, address: str):
        self.process, self.address = process, address

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        Path(self.address).unlink(missing_ok=True)
        try:
            Path(self.address).parent.rmdir()
        except OSError:
            pass


def start(log: str | Path, owner_pid: int | None = None, preload: tuple[str, ...] = PRELOAD) -> Worker:
    """Start a worker owned by ``owner_pid`` (default: this process) and wait until it listens.

    The socket lives in a fresh private temporary folder: Unix socket paths are limited to about
    100 characters, which a project folder may exceed."""
    address = str(Path(tempfile.mkdtemp(prefix="fhbench-worker-")) / "socket")
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "fhbench.worker", "--socket", address, "--owner-pid", str(owner_pid or os.getpid()), "--preload", *preload]
    with open(log, "w") as stream:
        process = subprocess.Popen(cmd, stdout=stream, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not Path(address).exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise WorkerError(f"the warm worker did not start listening on {address}; see {log}")
        time.sleep(0.02)
    return Worker(process, address)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fhbench.worker", description="Serve fhbench jobs from one warm process.")
    parser.add_argument("--socket", required=True, help="Unix socket path to listen on")
    parser.add_argument("--owner-pid", type=int, required=True, help="exit when this process ends")
    parser.add_argument("--preload", nargs="*", default=list(PRELOAD), help="modules imported before serving")
    args = parser.parse_args(argv)
    serve(args.socket, args.owner_pid, tuple(args.preload))


if __name__ == "__main__":
    main()
