"""DAG cost: ``snakemake -n all`` on the full paper config (config/config.yaml).

Times the dry run in a fresh process, as a user pays it before any job starts, and prints the
number of jobs it planned. Best of ``--repeats``.

    python benchmarks/dag.py [--configfile config/config.yaml] [--target 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

from common import REPO, children_cpu, copy_workflow, load_average, verdict


def dry_run(configfile: str) -> tuple[float, float, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    workdir = copy_workflow()  # without resources/ or results/: the whole grid is planned
    cmd = [sys.executable, "-m", "snakemake", "-n", "all", "--cores", "1", "--configfile", configfile]
    t0, cpu0 = time.perf_counter(), children_cpu()
    out = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    shutil.rmtree(workdir, ignore_errors=True)
    seconds, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return seconds, cpu, out.stdout + out.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--target", type=float, default=10.0, help="seconds")
    args = parser.parse_args()
    runs = [dry_run(args.configfile) for _ in range(args.repeats)]
    seconds = min(s for s, _, _ in runs)
    cpu = min(c for _, c, _ in runs)
    total = re.search(r"^total\s+(\d+)", runs[0][2], flags=re.M)
    jobs = total.group(1) if total else "?"
    print(f"# {load_average()}; best of {args.repeats}")
    # CPU time suffers less than wall time from other processes on a shared machine.
    print(
        f"snakemake -n all --configfile {args.configfile}: {seconds:.2f} s wall ({cpu:.2f} s CPU) for {jobs} jobs; target <= {args.target:.1f} s; "
        f"ratio {seconds / args.target:.2f}; {verdict(seconds, args.target)}"
    )
    return 0 if seconds <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
