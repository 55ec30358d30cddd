"""The ``fhbench`` command: the entry point Snakemake scripts and users share.

Imports are done inside each command so that ``fhbench --help`` and light commands start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_partition(args: argparse.Namespace) -> None:
    import numpy as np

    from fhbench.io import write_json
    from fhbench.partition import make_partition

    labels = np.load(args.labels)
    groups = None
    if args.group:
        import pandas as pd

        if not args.metadata:
            raise ValueError("--group needs --metadata (the prepared metadata.csv)")
        groups = pd.read_csv(args.metadata, dtype=str, keep_default_na=False)[args.group].to_numpy()
    part = make_partition(labels, args.scheme, args.n_clients, args.alpha, args.datapercent, args.seed, groups=groups, n_groups=args.n_groups)
    write_json(args.out, part.to_json(labels.astype(int).ravel()))
    sizes = [len(c["train"]) + len(c["val"]) + len(c["test"]) for c in part.clients]
    print(f"wrote {args.out}: {len(sizes)} clients, {sum(sizes)} samples ({min(sizes)}-{max(sizes)} per client)", file=sys.stderr)


def cmd_acquire(args: argparse.Namespace) -> None:
    from fhbench.data import acquire

    acquire(args.dataset, args.out, args.source, args.base_url, json.loads(args.demo_options) if args.demo_options else None)


def cmd_prepare(args: argparse.Namespace) -> None:
    from fhbench.data import get_dataset

    get_dataset(args.dataset).prepare(args.raw, args.out)


def cmd_fetch_model(args: argparse.Namespace) -> None:
    import yaml

    from fhbench.models import get_backbone

    architecture, hf_id, tiny = args.architecture, args.hf_id, json.loads(args.tiny) if args.tiny else None
    if args.backbone:  # everything from the config entry backbones.<name>
        entries = yaml.safe_load(Path(args.config).read_text())["backbones"]
        if args.backbone not in entries:
            raise KeyError(f"{args.config}: backbones.{args.backbone} is not defined; defined: {sorted(entries)}")
        entry = entries[args.backbone]
        architecture, hf_id, tiny = entry["architecture"], entry["hf_id"], entry.get("tiny")
    if not architecture or not (hf_id or tiny):
        raise ValueError("fetch-model needs --backbone NAME, or --architecture with --hf-id or --tiny")
    backbone = get_backbone(architecture)
    if tiny:
        backbone.create_tiny(args.out, tiny)
    else:
        backbone.fetch_pretrained(hf_id, args.out)


def cmd_run(args: argparse.Namespace) -> None:
    import yaml

    from fhbench.worker import call

    config = yaml.safe_load(Path(args.config).read_text())
    # In the warm worker named by $FHBENCH_WORKER when one answers, else here (fhbench.worker).
    status = call("fhbench.federation:run_federation", dict(config=config, prepared_dir=args.prepared, split_path=args.split,
                  model_dir=args.model, metrics_out=args.out, checkpoint_dir=args.checkpoints))
    print(f"run {status}: {args.out}", file=sys.stderr)


def cmd_data_targets(args: argparse.Namespace) -> None:
    import yaml

    from fhbench.grid import data_targets

    config = yaml.safe_load(Path(args.config).read_text())
    if args.dataset:
        if args.dataset not in config["datasets"]:
            raise KeyError(f"{args.config}: no dataset {args.dataset!r} under datasets")
        config["datasets"] = {args.dataset: config["datasets"][args.dataset]}
    print(" ".join(data_targets(config)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("partition", help="split a label vector into clients (train/val/test indices)")
    p.add_argument("--labels", required=True, help=".npy file with the pooled label vector")
    p.add_argument("--scheme", default="fhbench", choices=["fhbench", "dirichlet", "iid", "natural", "planted"])
    p.add_argument("--n-groups", type=int, default=2, help="planted scheme: number of client groups")
    p.add_argument("--n-clients", type=lambda v: None if v == "all" else int(v), default=20, help="'all': one client per group (natural)")
    p.add_argument("--metadata", default=None, help="metadata.csv of the prepared dataset (natural scheme)")
    p.add_argument("--group", default=None, help="metadata column whose groups are the clients (natural scheme)")
    p.add_argument("--alpha", type=float, default=0.1, help="Dirichlet concentration")
    p.add_argument("--datapercent", type=float, default=1.0, help="fraction of the pooled data used")
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--out", required=True, help="output JSON")
    p.set_defaults(func=cmd_partition)

    p = sub.add_parser("acquire", help="download a dataset's raw files, or write its demo twin")
    p.add_argument("--dataset", required=True)
    p.add_argument("--source", choices=["remote", "demo"], default="remote")
    p.add_argument("--base-url", default=None, help="mirror replacing the source's host")
    p.add_argument("--demo-options", default=None, help="JSON options for the demo generator")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_acquire)

    p = sub.add_parser("prepare", help="turn raw files into the prepared format")
    p.add_argument("--dataset", required=True)
    p.add_argument("--raw", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("fetch-model", help="download pretrained weights, or save a tiny random twin")
    p.add_argument("--backbone", default=None, help="a key of backbones: in --config (sets the three options below)")
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--architecture", default=None)
    p.add_argument("--hf-id", default=None)
    p.add_argument("--tiny", default=None, help="JSON model config for a tiny random model")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_fetch_model)

    p = sub.add_parser("run", help="run one federated experiment from a resolved run config (YAML)")
    p.add_argument("--config", required=True)
    p.add_argument("--prepared", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True, help="metrics.csv to write")
    p.add_argument("--checkpoints", default=None)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("data-targets", help="print the raw, prepared and partition paths of a config's datasets (for snakemake)")
    p.add_argument("--config", required=True)
    p.add_argument("--dataset", default=None, help="only this dataset")
    p.set_defaults(func=cmd_data_targets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, KeyError, FileNotFoundError, TypeError) as exc:
        print(f"fhbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
