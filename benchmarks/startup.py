"""Fixed cost per job: process start to the first training step of ``fhbench run``.

Starts ``python -m fhbench.cli run`` on a tiny ViT and random data in a fresh process, takes
the wall-clock time just before the process is spawned, and reads the time of the first SGD
step from the line the engine logs (``first training step done at unix time …``), twice:
cold (the run imports torch, transformers and peft itself: what a cluster job pays) and warm
(the job hands its run to a warm worker, ``fhbench.worker``, as local workflow jobs do with
``execution.warm_worker``). Also prints the cost of ``import torch`` alone (the floor any cold
job pays) and the heaviest imports of the run as ``python -X importtime`` reports them.

    python benchmarks/startup.py [--repeats 3] [--target 3.0]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, children_cpu, load_average, make_workspace, verdict

FIRST_STEP = re.compile(r"first training step done at unix time ([0-9.]+)")


def child_env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return env


def time_to_first_step(ws, root: Path, worker_address: str | None = None) -> tuple[float, float]:
    """Wall seconds from spawning ``fhbench run`` to its first SGD step, and the CPU seconds of the
    whole run (of the job process and its children: a warm worker's child is not among them)."""
    import yaml

    config = root / "run.yaml"
    config.write_text(yaml.safe_dump(ws.run_config(rounds=1)))
    log = root / "run.log"
    cmd = [
        sys.executable,
        "-m",
        "fhbench.cli",
        "run",
        "--config",
        str(config),
        "--prepared",
        str(ws.prepared),
        "--split",
        str(ws.split),
        "--model",
        str(ws.model),
        "--out",
        str(root / "metrics.csv"),
    ]
    with open(log, "w") as stream:
        cpu0, t0 = children_cpu(), time.time()
        env = child_env() | ({"FHBENCH_WORKER": worker_address} if worker_address else {})
        subprocess.run(cmd, stderr=stream, stdout=stream, env=env, check=True)
        cpu = children_cpu() - cpu0
    match = FIRST_STEP.search(log.read_text())
    if not match:
        raise RuntimeError(f"no first-step line in {log}:\n{log.read_text()[-2000:]}")
    return float(match.group(1)) - t0, cpu


def import_seconds(statement: str) -> float:
    t0 = time.time()
    subprocess.run([sys.executable, "-c", statement], env=child_env(), check=True)
    return time.time() - t0


def heaviest_imports(top: int) -> list[tuple[float, str]]:
    """Import cost of each layer of a run, in the order they load (python -X importtime).

    Each later entry counts only what the earlier ones did not already import.
    """
    statement = (
        "import torch, numpy, pandas, yaml, transformers, transformers.models.vit.modeling_vit, peft, "
        "fhbench.data, fhbench.algorithms, fhbench.models, fhbench.federation, fhbench.cli"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], env=child_env(), capture_output=True, text=True, check=True
    ).stderr
    rows = []
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            if not name.startswith("  ") and name.strip():  # direct imports of the statement
                rows.append((int(parts[1]) / 1e6, name.strip()))
    return sorted(rows, reverse=True)[:top]


def warm_worker(root: Path):
    """A worker started as the workflow starts it (fhbench.worker.start), once its imports are done."""
    from fhbench import worker

    log = root / "worker.log"
    started = worker.start(log)
    deadline = time.monotonic() + 120
    while "ready after" not in log.read_text():
        if started.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the warm worker did not get ready:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=3.0, help="seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = make_workspace(root, n_clients=2, samples_per_client=40, vit="tiny")
        torch_only = min(import_seconds("import torch") for _ in range(args.repeats))
        cold = [time_to_first_step(ws, root) for _ in range(args.repeats)]
        worker = warm_worker(root)
        try:
            warm = [time_to_first_step(ws, root, worker.address) for _ in range(args.repeats)]
        finally:
            worker.stop()
        print(f"# {load_average()}; best of {args.repeats}")
        print("heaviest imports of a run (cumulative s, python -X importtime):")
        for seconds, name in heaviest_imports(12):
            print(f"  {seconds:6.2f}  {name}")
        print(f"python -c 'import torch' (floor of any cold job): {torch_only:.2f} s")
        cold_start, cold_cpu = min(w for w, _ in cold), min(c for _, c in cold)
        warm_start, warm_cpu = min(w for w, _ in warm), min(c for _, c in warm)
        print(
            f"CPU seconds of the job process, whole 1-round run: cold {cold_cpu:.2f} s, warm {warm_cpu:.2f} s (the run itself is in the worker's child)"
        )
        print(
            f"cold (own imports, as on a cluster node): process start -> first training step: {cold_start:.2f} s; "
            f"ratio to target {cold_start / args.target:.2f}; {verdict(cold_start, args.target)}"
        )
        print(
            f"warm (forked by the workflow's warm worker, local runs): process start -> first training step: {warm_start:.2f} s; "
            f"target <= {args.target:.2f} s; ratio {warm_start / args.target:.2f}; {verdict(warm_start, args.target)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
