"""What the demo's tiny-twin settings save: each tiny backbone as config/demo.yaml sets it against
the same twin with Hugging Face's default dropouts (and MOMENT's 512-step input).

The demo turns dropout off in its tiny backbones and gives the tiny MOMENT 256 input steps (its
twins' windows are 250 and 256 steps long, so at 512 half of every window's patches are
padding). For one dataset per backbone this runs the demo's FedAvg run (its own run config, data
and split, ``--rounds`` rounds) once with each twin, alternating ``--repeats`` times, in this one
process, and prints the CPU seconds per run and their ratio. Needs the demo's prepared data and
splits (``make demo``, or ``snakemake <split file> --configfile config/demo.yaml``).

    python benchmarks/tiny_twins.py [--config config/demo.yaml] [--rounds 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from common import REPO, load_average, quiet_transformers

from fhbench import grid
from fhbench.config import load_config
from fhbench.federation import run_federation
from fhbench.models import get_backbone
from fhbench.schema import SCHEMA

DROPOUT = "#/$defs/dropout"


def without_dropout(tiny: dict, definition: dict) -> dict:
    """``tiny`` without the keys its schema definition types as dropouts (nested objects too)."""
    properties = definition.get("properties", {})
    out = {}
    for key, value in tiny.items():
        spec = properties.get(key, {})
        if spec.get("$ref") == DROPOUT:
            continue
        out[key] = without_dropout(value, spec) if isinstance(value, dict) else value
    return out


def with_defaults(tiny: dict, architecture: str) -> dict:
    """The tiny config without the demo's dropout and input-length settings (the libraries' defaults)."""
    definition = yaml.safe_load(SCHEMA.read_text())["$defs"][f"tiny_{architecture}"]
    return {k: v for k, v in without_dropout(tiny, definition).items() if k != "seq_len"}


def timed_run(run: dict, prepared: str, split: str, model_dir: Path, out: Path, tiny: dict) -> float:
    run = {**run, "model_config": tiny}  # the engine checks the twin against the run's model config
    t0 = time.process_time()
    run_federation(run, prepared, split, model_dir, out / "metrics.csv", run_info_out=out / "run.json")
    return time.process_time() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(REPO / "config/demo.yaml"))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    quiet_transformers()
    torch.set_num_threads(1)
    config = load_config(args.config)
    name = grid.config_name(config)
    print(load_average())
    used = {config["datasets"][d]["backbone"]: d for d in reversed(config["experiments"]["main"]["datasets"])}
    for backbone, dataset in sorted(used.items()):
        architecture = config["backbones"][backbone]["architecture"]
        tiny = config["backbones"][backbone].get("tiny")
        if not tiny or with_defaults(tiny, architecture) == tiny:
            continue
        key = grid.RunKey(dataset, "fhbench", "fedavg", "default", 0, name=name)
        run = {**grid.resolve_run_config(config, key), "rounds": args.rounds, "threads": 1}
        prepared, split = grid.prepared_dir(config, dataset), grid.split_path(config, dataset, "fhbench")
        if not (Path(prepared).is_dir() and Path(split).is_file()):
            raise SystemExit(f"{dataset}: no prepared data or split; run `snakemake {split} --configfile {args.config}` first")
        impl = get_backbone(architecture)
        with tempfile.TemporaryDirectory(prefix="fhbench-tiny-") as tmp:
            cpu = {"demo settings": [], "library defaults": []}
            twins = {"demo settings": tiny, "library defaults": with_defaults(tiny, architecture)}
            for label, twin in twins.items():
                impl.create_tiny(Path(tmp) / label, twin, seed=0)
            for repeat in range(args.repeats):
                for label, twin in twins.items():
                    out = Path(tmp) / f"{label}-{repeat}"
                    cpu[label].append(timed_run(run, prepared, split, Path(tmp) / label, out, twin))
            demo, defaults = (min(v) for v in cpu.values())
            print(
                f"{backbone:<14} {dataset:<10} {args.rounds} rounds: library defaults {defaults:6.2f} s CPU, "
                f"demo settings {demo:6.2f} s CPU, ratio {demo / defaults:.2f} (best of {args.repeats})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
