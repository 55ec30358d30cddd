"""Does the finished demo learn? Checks issue #22's "Must show" list on a finished grid's results.

Reads the runs' ``metrics.csv`` of a finished ``snakemake all --configfile config/demo.yaml``
(or any config) and computes the label priors from its splits, then prints per condition the
measured figures and PASS/FAIL:

1. main experiment, every dataset: centralized ≥ global prior + ``--margin`` points (default 5);
2. main experiment, every dataset and seed: EPFL's per-client training loss differs from
   ``local``'s after round 1 (largest relative difference ≥ ``--min-difference``, default 1%);
3. every-algorithm experiment: no two methods have equal per-client test accuracy in every
   evaluated round (a pair that ``EQUAL_BY_DEFINITION`` explains is named with its reason, and
   still fails: the demo's settings are chosen so that every mechanism acts);
4. the main table (``results/<name>/tables/main_accuracy.md``) has the two prior rows;
5. every run's LoRA adapters moved (``diagnostics.csv``, :mod:`fhbench.diagnostics`), where
   the runs write diagnostics.

    python benchmarks/demo_learns.py [--config config/demo.yaml] [--main main] [--algorithms algorithms]

Exit status 0 when every condition passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from common import REPO

from fhbench import grid
from fhbench.config import load_config
from fhbench.reporting.learning import EQUAL_BY_DEFINITION, centralized_margin, identical_pairs, training_difference
from fhbench.reporting.priors import PRIORS, prior_frame
from fhbench.reporting.tables import load_metrics


def experiment_metrics(config: dict, experiment: str) -> pd.DataFrame:
    keys = grid.experiment_runs(config, experiment)
    missing = [k.label for k in keys if not Path(k.metrics).exists()]
    if missing:
        raise SystemExit(f"{experiment}: {len(missing)} run(s) have no metrics.csv (e.g. {missing[0]}); finish the grid first")
    return load_metrics([k.metrics for k in keys])


def priors_of(config: dict, metrics: pd.DataFrame) -> pd.DataFrame:
    pairs = sorted(set(zip(metrics["dataset"], metrics["partition"])))
    return prior_frame((d, p, grid.prepared_dir(config, d), grid.split_path(config, d, p)) for d, p in pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(REPO / "config/demo.yaml"))
    parser.add_argument("--main", default="main", help="the experiment with every dataset (conditions 1, 2, 4)")
    parser.add_argument("--algorithms", default="algorithms", help="the every-algorithm experiment (condition 3)")
    parser.add_argument("--margin", type=float, default=5.0, help="points centralized must clear the global prior by")
    parser.add_argument("--min-difference", type=float, default=0.01, help="relative training-loss difference EPFL vs local")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    failures = []

    main_metrics = experiment_metrics(config, args.main)
    priors = priors_of(config, main_metrics)
    print(f"1. {args.main}: centralized against the global prior (test accuracy, %, protocol score, mean over seeds)")
    margins = centralized_margin(main_metrics, priors)
    for _, row in margins.iterrows():
        ok = row["margin"] * 100 >= args.margin
        failures += [] if ok else [f"centralized on {row['dataset']}"]
        print(
            f"   {row['dataset']:<12} centralized {100 * row['centralized']:6.2f}  global prior {100 * row['global prior']:6.2f}  "
            f"local prior {100 * row['local prior']:6.2f}  margin {100 * row['margin']:+6.2f}  {'PASS' if ok else 'FAIL'}"
        )

    print(f"2. {args.main}: EPFL's per-client training loss against local's after round 1")
    diff = training_difference(main_metrics, "epfl", "local")
    for dataset, frame in diff.groupby("dataset", sort=False):
        ok = bool((frame["max_rel"] >= args.min_difference).all())
        failures += [] if ok else [f"EPFL trains like local on {dataset}"]
        print(
            f"   {dataset:<12} largest relative difference {frame['max_rel'].min():.2e} (worst seed), "
            f"client-rounds differing {100 * frame['share_differing'].min():.0f}%  {'PASS' if ok else 'FAIL'}"
        )

    if args.algorithms in config["experiments"]:
        print(f"3. {args.algorithms}: methods with equal per-client test accuracy in every evaluated round")
        pairs = identical_pairs(experiment_metrics(config, args.algorithms))
        if pairs.empty:
            print("   none  PASS")
        for _, row in pairs.iterrows():
            why = EQUAL_BY_DEFINITION.get(frozenset((row["first"][0], row["second"][0])))
            failures.append(f"{row['first'][0]} = {row['second'][0]} on {row['dataset']}")
            reason = f" (equal by definition when {why})" if why else ""
            print(f"   {row['dataset']:<12} {row['first'][0]} = {row['second'][0]} ({row['points']} scores)  FAIL{reason}")

    table = Path(grid.tables_dir(config)) / f"{args.main}_accuracy.md"
    print(f"4. {table}: prior rows")
    text = table.read_text() if table.exists() else ""
    for name in PRIORS:
        ok = any(line.startswith(f"| {name}") for line in text.splitlines())
        failures += [] if ok else [f"no '{name}' row in {table}"]
        print(f"   {name:<12} {'PASS' if ok else 'FAIL'}")

    diagnostics = [Path(k.directory) / "diagnostics.csv" for k in grid.all_runs(config)]
    present = [p for p in diagnostics if p.exists()]
    print(f"5. LoRA adapters moved ({len(present)} of {len(diagnostics)} runs write diagnostics.csv)")
    if present:
        from fhbench.diagnostics import stalled_tensors

        stalled = [(p.parent, s) for p in present for s in stalled_tensors(pd.read_csv(p))]
        for run, what in stalled[:10]:
            print(f"   {run}: {what}  FAIL")
        failures += [f"adapters did not move in {len(stalled)} run(s)"] if stalled else []
        print(f"   {len(present) - len({r for r, _ in stalled})} of {len(present)} runs' adapters moved  {'FAIL' if stalled else 'PASS'}")

    print("\nFAIL: " + "; ".join(failures) if failures else "\nPASS: every condition holds")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
