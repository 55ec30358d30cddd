"""Peak memory of `prepare_data` per dataset, measured on twins at two sizes and projected to the real size.

Each dataset's demo twin is generated at two sizes (the larger eight times the smaller; ICBHI
with real 8 s clips up to 1.2 GB of prepared clips) and prepared in a fresh process,
as the workflow's job does (``fhbench prepare``). The figure is that process's peak resident set
(VmHWM: interpreter, imports and the preparation). Prepared inputs are streamed to disk
(``fhbench.data.prepared.stream_prepared``), so the peak should not grow with the data; the
growth per sample between the two sizes, times the real sample count, gives the projected peak
at the real size, which is compared with the 2 GB bound a cluster job is given. "whole array"
is what holding the real inputs in memory once would take (the former way).

    python benchmarks/prepare_memory.py [--datasets icbhi sprsound ...] [--scale 1.0] [--bound-gb 2]
                                        [--compare-src ../older-checkout/src]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, load_average, verdict

# (demo options at the small size, prepare options, the option scaled by FACTOR, bytes per
# prepared sample at real size). Recordings have their real lengths (ICBHI ~10 s, SPRSound
# ~8 s, PTB-XL 10 s, ds004504 ~13 min) and the count of them grows: that is how the real data
# is bigger than a twin.
TWINS = {
    "icbhi": (
        {"n_patients": 10, "recordings_per_patient": 2, "cycles_per_recording": 15},
        {"clip_seconds": 8.0},
        "n_patients",
        8 * 16_000 * 4,
    ),
    "sprsound": (
        {"n_patients": 10, "recordings_per_patient": 2, "events_per_recording": 10},
        {"clip_seconds": 8.0},
        "n_patients",
        8 * 16_000 * 4,
    ),
    "ptbxl": ({"n_patients": 60}, {}, "n_patients", 12 * 250 * 4),
    "adftd": ({"n_per_group": 1, "seconds": 800.0}, {}, "n_per_group", 19 * 256 * 4),
    "organamnist": ({"image_size": 224, "n_train": 300, "n_val": 50, "n_test": 100}, {}, "n_train", 224 * 224),
    "medabs": ({"n_train": 2000, "n_test": 500}, {}, "n_train", None),
    "pubmedrct": ({"n_train": 2000, "n_dev": 10, "n_test": 200}, {}, "n_train", None),
}
FACTOR = 8

CHILD = r"""
import json, sys
from pathlib import Path
def kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
from fhbench.data import get_dataset
key, raw, out, options = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
dataset = get_dataset(key)
start = kib("VmRSS")
dataset.prepare(raw, out, **options)
print(json.dumps({"start_kib": start, "peak_kib": kib("VmHWM")}))
"""


def scaled(options: dict, name: str, factor: float) -> dict:
    return {**options, name: max(1, int(round(options[name] * factor)))}


def prepare_peak(key: str, raw: Path, out: Path, prepare: dict, src: Path) -> int:
    """Peak RSS (bytes) of a fresh process running ``key``'s prepare from the package in ``src``."""
    env = dict(os.environ, PYTHONPATH=str(src))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, key, str(raw), str(out), json.dumps(prepare)], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"prepare {key} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_kib"] * 1024


def measure(key: str, demo: dict, prepare: dict, root: Path, compare_src: Path | None = None) -> dict:
    """Generate the twin, prepare it in a fresh process; the process's peak RSS and the data sizes."""
    from fhbench.data import get_dataset
    from fhbench.data.prepared import load_prepared

    raw, out = root / "raw", root / "prepared"
    get_dataset(key).generate_demo(raw, seed=0, **demo)
    peak = prepare_peak(key, raw, out, prepare, REPO / "src")
    n = len(load_prepared(out).labels)
    inputs = sum(p.stat().st_size for p in out.iterdir() if p.name in ("inputs.npy", "texts.bin"))
    other = prepare_peak(key, raw, root / "other", prepare, compare_src) if compare_src else None
    shutil.rmtree(root)
    return {"n": n, "peak": peak, "inputs": inputs, "other": other}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(TWINS), choices=list(TWINS))
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies both twin sizes")
    parser.add_argument("--bound-gb", type=float, default=2.0)
    parser.add_argument("--workdir", default=None, help="where the twins are written (default: a temporary folder)")
    parser.add_argument(
        "--compare-src",
        type=Path,
        default=None,
        help="also prepare the larger twin with the package in this src/ folder (e.g. an older checkout)",
    )
    args = parser.parse_args()

    from fhbench.data import get_dataset

    bound = args.bound_gb * 1e9
    mb = 1e6
    print(f"# {load_average()}; peak RSS of a fresh `prepare` process (VmHWM), twins at two sizes (x{FACTOR})")
    print(
        f"{'dataset':<12} {'samples':>14} {'inputs MB':>16} {'peak RSS MB':>16} {'per 1k samples':>15} "
        f"{'real samples':>13} {'whole array MB':>15} {'projected MB':>13} {'/ bound':>8}  verdict"
    )
    failed = False
    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="fhbench-prepmem-"))
    try:
        for key in args.datasets:
            demo, prepare, name, row_bytes = TWINS[key]
            demo = scaled(demo, name, args.scale)
            small = measure(key, demo, prepare, base / f"{key}-small")
            large = measure(key, scaled(demo, name, FACTOR), prepare, base / f"{key}-large", args.compare_src)
            slope = (large["peak"] - small["peak"]) / max(1, large["n"] - small["n"])
            real = get_dataset(key).published["samples"]
            projected = large["peak"] + max(0.0, slope) * max(0, real - large["n"])
            ratio = projected / bound
            failed |= ratio > 1
            whole = f"{real * row_bytes / mb:,.0f}" if row_bytes else "-"
            print(
                f"{key:<12} {small['n']:>6,}/{large['n']:>7,} {small['inputs'] / mb:>7.1f}/{large['inputs'] / mb:>8.1f} "
                f"{small['peak'] / mb:>7.0f}/{large['peak'] / mb:>8.0f} {slope * 1000 / mb:>12.2f} MB {real:>13,} {whole:>15} "
                f"{projected / mb:>13,.0f} {ratio:>8.2f}  projected <= {args.bound_gb:g} GB: {verdict(ratio, 1.0)}",
                flush=True,
            )
            if large["other"] is not None:
                print(
                    f"{'':<12} with {args.compare_src}: peak RSS {large['other'] / mb:,.0f} MB on the larger twin "
                    f"({large['other'] / large['peak']:.1f} x this checkout's)",
                    flush=True,
                )
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
