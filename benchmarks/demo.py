"""The whole demo grid end to end: ``snakemake all --cores 2 --configfile config/demo.yaml``.

Runs in a fresh copy of the workflow (no resources/, results/ or .snakemake/), as ``make demo``
does on a fresh clone, and prints the wall time, the CPU time of Snakemake and everything it
started, and the number of jobs, against the 10-minute target. ``--warm-worker both`` also runs
the grid with ``execution.warm_worker: false`` (every run job imports torch and transformers
itself) and prints the ratio.

    python benchmarks/demo.py [--cores 2] [--warm-worker on|off|both] [--target 600]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

import yaml
from common import REPO, children_cpu, copy_workflow, load_average, verdict


def run_demo(cores: int, warm_worker: bool) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and finished jobs of the demo grid in a fresh copy."""
    workdir = copy_workflow()
    config = yaml.safe_load((workdir / "config/demo.yaml").read_text())
    config.setdefault("execution", {})["warm_worker"] = warm_worker
    (workdir / "config/bench_demo.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    cmd = [sys.executable, "-m", "snakemake", "all", "--cores", str(cores), "--configfile", "config/bench_demo.yaml"]
    t0, cpu0 = time.perf_counter(), children_cpu()
    done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    output = done.stdout + done.stderr
    shutil.rmtree(workdir, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{output[-3000:]}")
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", output)
    return seconds, cpu, int(steps[-1][1]) if steps else -1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--warm-worker", choices=["on", "off", "both"], default="on")
    parser.add_argument("--target", type=float, default=600.0, help="seconds")
    args = parser.parse_args()
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.warm_worker]
    print(f"# {load_average()}; snakemake all --cores {args.cores} --configfile config/demo.yaml in a fresh copy", flush=True)
    results = {}
    for warm in modes:
        seconds, cpu, jobs = run_demo(args.cores, warm)
        results[warm] = seconds
        label = "warm worker" if warm else "no warm worker"
        print(
            f"demo grid ({label}): {jobs} jobs, {seconds:.0f} s wall ({seconds / 60:.1f} min), {cpu:.0f} s CPU; "
            f"target <= {args.target:.0f} s; ratio {seconds / args.target:.2f}; {verdict(seconds, args.target)}",
            flush=True,
        )
    if len(results) == 2:
        print(f"wall time without / with the warm worker: {results[False] / results[True]:.2f}")
    return 0 if min(results.values()) <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
