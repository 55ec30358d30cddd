"""The experiment grid: from the validated config to run keys, paths and resolved run configs.

The Snakemake workflow calls these functions; keeping them here makes them unit-testable and
keeps the rule files free of logic.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator

RUN_DIR = "results/runs/{dataset}/{partition}/{algorithm}/{variant}/seed{seed}"


class ConfigError(ValueError):
    """A config value that passed the schema but contradicts another part of the config."""


@dataclass(frozen=True, order=True)
class RunKey:
    dataset: str
    partition: str
    algorithm: str
    variant: str
    seed: int

    @property
    def directory(self) -> str:
        return RUN_DIR.format(**self.__dict__)

    @property
    def metrics(self) -> str:
        return f"{self.directory}/metrics.csv"


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def check_references(config: dict) -> None:
    """Cross-checks the schema cannot express: every name used is defined. Errors name the key."""
    for name, ds in config["datasets"].items():
        if ds["backbone"] not in config["backbones"]:
            raise ConfigError(f"datasets.{name}.backbone: {ds['backbone']!r} is not defined under backbones")
    sections = {"datasets": "datasets", "partitions": "partitions", "algorithms": "algorithms", "variants": "variants"}
    for exp_name, exp in config["experiments"].items():
        for field, section in sections.items():
            for value in exp.get(field, []):
                if value not in config[section]:
                    raise ConfigError(f"experiments.{exp_name}.{field}: {value!r} is not defined under {section}")
    from fhbench.algorithms import ALGORITHMS
    from fhbench.data import DATASETS, check_prepare_options
    from fhbench.models import BACKBONES

    for name in config["algorithms"]:
        if name not in ALGORITHMS:
            raise ConfigError(f"algorithms.{name}: no such algorithm; registered: {sorted(ALGORITHMS)}")
    for name in config["datasets"]:
        if name not in DATASETS:
            raise ConfigError(f"datasets.{name}: no such dataset; registered: {sorted(DATASETS)}")
        try:
            check_prepare_options(name, config["datasets"][name].get("prepare", {}))
        except ValueError as error:
            raise ConfigError(str(error)) from None
    for name, bb in config["backbones"].items():
        if bb["architecture"] not in BACKBONES:
            raise ConfigError(f"backbones.{name}.architecture: {bb['architecture']!r} is not one of {sorted(BACKBONES)}")
    for name, part in config["partitions"].items():
        grouped = part["scheme"] == "natural"
        if grouped != ("group" in part):
            raise ConfigError(f"partitions.{name}.group: required by the natural scheme and only there (scheme {part['scheme']!r})")
        if not grouped and part.get("n_clients", 20) is None:
            raise ConfigError(f"partitions.{name}.n_clients: null (one client per group) needs the natural scheme")
    for dataset, partition in used_data_partitions(config):
        group = config["partitions"][partition].get("group")
        if group is not None and group not in DATASETS[dataset].natural_groups:
            raise ConfigError(
                f"partitions.{partition}.group: {group!r} is not a natural grouping of {dataset} "
                f"(has: {list(DATASETS[dataset].natural_groups) or 'none'})"
            )


def used_data_partitions(config: dict) -> list[tuple[str, str]]:
    """Every (dataset, partition) pair some experiment runs: these get split, tabled and plotted."""
    return sorted({(d, p) for exp in config["experiments"].values() for d in exp["datasets"] for p in exp["partitions"]})


def data_partitions(config: dict) -> list[tuple[str, str]]:
    """Every configured dataset with every partition that applies to it (a natural partition
    only where the dataset has its group column): the splits the dataset table and the
    distribution figures describe, and the data DVC tracks."""
    from fhbench.data import DATASETS

    return [
        (dataset, name)
        for dataset in config["datasets"]
        for name, part in config["partitions"].items()
        if part.get("group") is None or part["group"] in DATASETS[dataset].natural_groups
    ]


def data_targets(config: dict) -> list[str]:
    """Raw, prepared and partition paths of every configured dataset (the DVC-tracked data)."""
    datasets = list(config["datasets"])
    return (
        [f"resources/raw/{d}" for d in datasets]
        + [f"resources/prepared/{d}" for d in datasets]
        + [f"resources/partitions/{d}/{p}.json" for d, p in data_partitions(config)]
    )


def dataset_report_targets(config: dict) -> list[str]:
    """The dataset table and one label-distribution figure per (dataset, partition)."""
    table = [f"results/tables/datasets.{ext}" for ext in ("csv", "md", "tex")]
    figures = [f"results/figures/split_{d}_{p}.{ext}" for d, p in data_partitions(config) for ext in ("pdf", "png")]
    return table + figures


def experiment_runs(config: dict, experiment: str) -> list[RunKey]:
    exp = config["experiments"][experiment]
    seeds = exp.get("seeds", config["seeds"])
    return sorted(
        RunKey(d, p, a, v, int(s))
        for d in exp["datasets"]
        for p in exp["partitions"]
        for a in exp["algorithms"]
        for v in exp.get("variants", ["default"])
        for s in seeds
    )


def all_runs(config: dict) -> list[RunKey]:
    return sorted({key for exp in config["experiments"] for key in experiment_runs(config, exp)})


def table_targets(config: dict) -> list[str]:
    tables = [f"results/tables/{exp}_accuracy.{ext}" for exp in config["experiments"] for ext in ("csv", "md")]
    return tables + [f"results/tables/efficiency.{ext}" for ext in ("csv", "md", "tex")]


def iter_backbones_used(config: dict) -> Iterator[str]:
    yield from sorted({config["datasets"][d]["backbone"] for d in config["datasets"]})


def resolve_run_config(config: dict, key: RunKey) -> dict:
    """Everything :class:`fhbench.federation.RunConfig` needs for one run, with variant overrides applied."""
    variant = config["variants"][key.variant]
    dataset = config["datasets"][key.dataset]
    backbone = config["backbones"][dataset["backbone"]]
    training = deep_merge(config["training"], variant.get("training", {}))
    lora = deep_merge(backbone["lora"], variant.get("lora", {}))
    algorithm_params = deep_merge(config["algorithms"][key.algorithm], variant.get("algorithm", {}))
    return {
        "dataset": key.dataset,
        "partition": key.partition,
        "algorithm": key.algorithm,
        "variant": key.variant,
        "seed": key.seed,
        "backbone": dataset["backbone"],
        "architecture": backbone["architecture"],
        "rounds": training["rounds"],
        "local_epochs": training["local_epochs"],
        "eval_every": training["eval_every"],
        "lr_min": training["lr_min"],
        "eval_batch_size": training["eval_batch_size"],
        "device": training["device"],
        "engine": training.get("engine", "sequential"),
        "batched_clients": training.get("batched_clients", 0),
        "precision": training.get("precision", "fp32"),
        "lr": dataset["lr"],
        "batch_size": dataset["batch_size"],
        "lora": lora,
        "algorithm_params": algorithm_params,
    }


def partition_params(config: dict, dataset: str, partition: str) -> dict:
    """Arguments of :func:`fhbench.partition.make_partition` for one (dataset, partition)."""
    part = config["partitions"][partition]
    return {
        "scheme": part["scheme"],
        "n_clients": part.get("n_clients", 20),
        "alpha": part.get("alpha", 0.1),
        "datapercent": part.get("datapercent", config["datasets"][dataset].get("datapercent", 1.0)),
        "seed": part.get("seed", 2025),
        "group": part.get("group"),
    }
