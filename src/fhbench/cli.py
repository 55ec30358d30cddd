"""The ``fhbench`` command: the entry point Snakemake scripts and users share.

Imports are done inside each command so that ``fhbench --help`` and light commands start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def json_option(name: str, value: str | None) -> dict | None:
    """A JSON-object option, or an error naming it."""
    from fhbench.errors import InputError

    if not value:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InputError(name, f"is not valid JSON ({exc})", "give a JSON object, e.g. '{\"n_train\": 100}'") from None
    if not isinstance(parsed, dict):
        raise InputError(name, f"is {type(parsed).__name__} JSON, not an object", "give a JSON object")
    return parsed


def cmd_partition(args: argparse.Namespace) -> None:
    from fhbench.errors import InputError
    from fhbench.io import write_json
    from fhbench.partition import make_partition
    from fhbench.validate import check_labels, check_output_path, load_npy

    check_output_path(args.out)
    todo = "give a 1-D integer .npy vector of class indices 0..K-1"
    labels = check_labels(load_npy(args.labels, "labels", todo=todo), args.labels, todo=todo)
    groups = None
    if args.group:
        import pandas as pd

        if not args.metadata:
            raise InputError("--group", "needs --metadata", "give the prepared metadata.csv")
        try:
            metadata = pd.read_csv(args.metadata, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise InputError(
                args.metadata, f"is not a readable CSV ({' '.join(str(exc).split())[:100]})", "give the prepared metadata.csv"
            ) from None
        if args.group not in metadata.columns:
            raise InputError(args.metadata, f"has no column {args.group!r}", f"choose one of {list(metadata.columns)}")
        groups = metadata[args.group].to_numpy()
    options = {k: getattr(args, k) for k in ("sigma", "min_share", "min_ratio") if getattr(args, k) is not None}
    part = make_partition(
        labels,
        args.scheme,
        args.n_clients,
        args.alpha,
        args.datapercent,
        args.seed,
        groups=groups,
        n_groups=args.n_groups,
        unseen=args.unseen,
        **options,
    )
    write_json(args.out, part.to_json(labels))
    sizes = [len(c["train"]) + len(c["val"]) + len(c["test"]) for c in part.clients]
    print(f"wrote {args.out}: {len(sizes)} clients, {sum(sizes)} samples ({min(sizes)}-{max(sizes)} per client)", file=sys.stderr)


def cmd_acquire(args: argparse.Namespace) -> None:
    from fhbench.data import acquire, check_options
    from fhbench.errors import InputError
    from fhbench.validate import check_output_dir

    if args.base_url and "@" in args.base_url.split("://", 1)[-1].split("/", 1)[0]:
        raise InputError(
            "--base-url",
            "holds credentials, which would be written to logs",
            "remove them and put them in ~/.netrc or FHBENCH_DOWNLOAD_AUTH=user:password",
        )
    check_output_dir(args.out)
    demo_options = json_option("--demo-options", args.demo_options)
    if args.source == "demo":
        check_options(args.dataset, "demo", demo_options, "--demo-options")
    acquire(args.dataset, args.out, args.source, args.base_url, demo_options)


def cmd_prepare(args: argparse.Namespace) -> None:
    from fhbench.data import check_prepare_options
    from fhbench.validate import check_output_dir, prepare_checked

    check_output_dir(args.out)
    options = json_option("--options", args.options) or {}
    check_prepare_options(args.dataset, options, "--options")
    prepare_checked(args.dataset, args.raw, args.out, options)


def cmd_verify_source(args: argparse.Namespace) -> int:
    from fhbench.data import get_dataset
    from fhbench.data.published import format_table, verify_source

    rows = verify_source(get_dataset(args.dataset), args.raw, checksums=not args.no_checksums)
    print(format_table(args.dataset, rows))
    bad = [r["figure"] for r in rows if not r["match"]]
    print(
        f"{args.dataset}: {'all ' + str(len(rows)) + ' checks match' if not bad else 'differs from the published source in: ' + ', '.join(bad)}"
    )
    return 1 if bad else 0


def cmd_fetch_model(args: argparse.Namespace) -> None:
    from fhbench.config import load_yaml
    from fhbench.config_values import check_tiny_options
    from fhbench.models import get_backbone

    architecture, hf_id, tiny = args.architecture, args.hf_id, json_option("--tiny", args.tiny)
    if args.backbone:  # everything from the config entry backbones.<name>
        entries = (load_yaml(args.config) or {}).get("backbones", {})
        if args.backbone not in entries:
            raise KeyError(f"{args.config}: backbones.{args.backbone} is not defined; defined: {sorted(entries)}")
        entry = entries[args.backbone]
        architecture, hf_id, tiny = entry["architecture"], entry["hf_id"], entry.get("tiny")
    if not architecture or not (hf_id or tiny):
        raise ValueError("fetch-model needs --backbone NAME, or --architecture with --hf-id or --tiny")
    if tiny:
        check_tiny_options(architecture, tiny, f"{args.config}: backbones.{args.backbone}.tiny" if args.backbone else "--tiny")
    get_backbone(architecture).write_model(args.out, hf_id, tiny)


def cmd_run(args: argparse.Namespace) -> None:
    from fhbench.config import load_yaml
    from fhbench.validate import check_output_path
    from fhbench.worker import call

    config = load_yaml(args.config)
    check_output_path(args.out)
    # In the warm worker named by $FHBENCH_WORKER when one answers, else here (fhbench.worker).
    # A progress bar in a terminal; plain per-round lines when the output goes to a file.
    status = call(
        "fhbench.federation:run_federation",
        dict(
            config=config,
            prepared_dir=args.prepared,
            split_path=args.split,
            model_dir=args.model,
            metrics_out=args.out,
            checkpoint_dir=args.checkpoints,
            progress_bar=sys.stderr.isatty(),
            tracking_dir=args.tracking_dir,
        ),
    )
    print(f"run {status}: {args.out}", file=sys.stderr)


def cmd_status(args: argparse.Namespace) -> None:
    import time

    from fhbench.config import load_config
    from fhbench.errors import InputError
    from fhbench.status import collect, render

    root = Path(args.root)
    if not root.is_dir():  # an empty grid would look like a workflow that has not started
        raise InputError(
            f"--root {root}",
            "is a file, not a folder" if root.exists() else "does not exist",
            "give the workflow folder (holding results/ and logs/)",
        )
    config_path = Path(args.config) if Path(args.config).is_absolute() or Path(args.config).exists() else root / args.config
    # Validated and defaulted as the workflow does (schema, then cross-references).
    config = load_config(config_path)
    clear = args.watch and sys.stdout.isatty()
    try:
        while True:
            now = time.time()
            statuses = collect(config, root, now, args.stale_minutes * 60, args.lines)
            screen = render(config, statuses, now, title=str(config_path), parallel=args.jobs)
            print(("\x1b[H\x1b[2J" if clear else "") + screen + ("" if clear else "\n"), flush=True)
            if not args.watch:
                return
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return


def cmd_data_targets(args: argparse.Namespace) -> None:
    from fhbench.config import load_config
    from fhbench.grid import data_targets

    # Validated (defaults filled) before cutting: data paths are hashes of the complete settings.
    config = load_config(args.config)
    if args.dataset:
        if args.dataset not in config["datasets"]:
            raise KeyError(f"{args.config}: no dataset {args.dataset!r} under datasets")
        config["datasets"] = {args.dataset: config["datasets"][args.dataset]}
    print(" ".join(data_targets(config)))


def cmd_list(args: argparse.Namespace) -> None:
    from fhbench.catalog import catalog, render

    print(render(catalog()))


def cmd_check_config(args: argparse.Namespace) -> None:
    from fhbench.config import load_config
    from fhbench.grid import all_runs

    # Snakemake reads --configfile itself before the workflow's checks run: a YAML syntax error
    # there is reported without file or line. This reads it as the workflow does, naming both.
    for path in args.config:
        config = load_config(path)
        print(f"{path}: valid; {len(all_runs(config))} runs in {len(config['experiments'])} experiments")


def n_clients(value: str) -> int | None:
    """--n-clients: a number, or 'all' (one client per group)."""
    return None if value == "all" else int(value)


class Parser(argparse.ArgumentParser):
    """argparse with errors in fhbench's one-line format (exit status 2, as argparse's own)."""

    def error(self, message: str):
        from fhbench.errors import BAD_INPUT_EXIT, PREFIX

        self.exit(BAD_INPUT_EXIT, f"{PREFIX}{self.prog}: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="fhbench", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("partition", help="split a label vector into clients (train/val/test indices)")
    p.add_argument("--labels", required=True, help=".npy file with the pooled label vector")
    p.add_argument(
        "--scheme", default="fhbench", choices=["fhbench", "fhbench_balanced", "dirichlet", "iid", "natural", "planted", "quantity"]
    )
    p.add_argument("--n-groups", type=int, default=2, help="planted scheme: number of client groups")
    p.add_argument("--unseen", type=int, default=0, help="clients held out of training, scored at the end as newcomers")
    for option, help_text in (
        ("sigma", "quantity scheme: sigma of the log-normal size law (default 1.0)"),
        ("min_share", "quantity scheme: each client's least share of the samples (default 0.01)"),
        ("min_ratio", "quantity scheme: least largest/smallest training-size ratio (default 1)"),
    ):
        p.add_argument(f"--{option.replace('_', '-')}", type=float, default=None, help=help_text)
    p.add_argument("--n-clients", type=n_clients, default=20, help="'all': one client per group (natural)")
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
    p.add_argument("--options", default=None, help="JSON prepare options (the config's datasets.<key>.prepare)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("verify-source", help="check a raw download against the source's published figures (exit 1 on a difference)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--raw", required=True, help="the raw folder, e.g. resources/raw/icbhi")
    p.add_argument("--no-checksums", action="store_true", help="skip hashing the files (counts only)")
    p.set_defaults(func=cmd_verify_source)

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
    p.add_argument("--tracking-dir", default=None, help="write TensorBoard event files of this run here")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="where the configured grid stands: runs done, running (round, ETA), failed, pending")
    p.add_argument("--config", default="config/config.yaml", help="the workflow's config (default: config/config.yaml)")
    p.add_argument("--root", default=".", help="the workflow folder holding results/ and logs/ (or a copy of it)")
    p.add_argument(
        "--watch", type=float, nargs="?", const=10.0, default=None, metavar="SECONDS", help="redraw every SECONDS (default 10) until Ctrl-C"
    )
    p.add_argument(
        "--stale-minutes",
        type=float,
        default=10.0,
        help="a run with no metrics and nothing written for this long counts as stalled, not running",
    )
    p.add_argument("--jobs", type=int, default=None, help="runs at once for the projected finish (default: as many as run now)")
    p.add_argument("--lines", type=int, default=8, help="log lines shown per failed run")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("check-config", help="check config files as the workflow does (YAML with file and line, schema, references)")
    p.add_argument("config", nargs="+", help="YAML config file(s)")
    p.set_defaults(func=cmd_check_config)
    p = sub.add_parser("data-targets", help="print the raw, prepared and partition paths of a config's datasets (for snakemake)")
    p.add_argument("--config", required=True)
    p.add_argument("--dataset", default=None, help="only this dataset")
    p.set_defaults(func=cmd_data_targets)
    p = sub.add_parser(
        "list", help="every algorithm, dataset and backbone, built-in or from a plugin, and each algorithm's hyperparameters"
    )
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; an expected error is one line on stderr (the traceback only with ``--debug``).

    Exit status: 0 done, 2 bad input (a file, option or config value; nothing was written),
    1 a failure of the environment (a download, a full or read-only disk).
    """
    from fhbench.errors import error_line, expected_error

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed as one line
        return done.code if isinstance(done.code, int) else 2
    try:
        status = args.func(args)
    except Exception as exc:  # noqa: BLE001 - sorted by expected_error; anything else is a bug and keeps its traceback
        code = expected_error(exc)
        if code is None:
            raise
        if args.debug:
            import traceback

            traceback.print_exc()
        print(error_line(exc), file=sys.stderr)
        return code
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
