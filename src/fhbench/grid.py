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
    from fhbench.data import DATASETS
    from fhbench.models import BACKBONES

    for name in config["algorithms"]:
        if name not in ALGORITHMS:
            raise ConfigError(f"algorithms.{name}: no such algorithm; registered: {sorted(ALGORITHMS)}")
    for name in config["datasets"]:
        if name not in DATASETS:
            raise ConfigError(f"datasets.{name}: no such dataset; registered: {sorted(DATASETS)}")
    for name, bb in config["backbones"].items():
        if bb["architecture"] not in BACKBONES:
            raise ConfigError(f"backbones.{name}.architecture: {bb['architecture']!r} is not one of {sorted(BACKBONES)}")


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
    return [f"results/tables/{exp}_accuracy.{ext}" for exp in config["experiments"] for ext in ("csv", "md")]


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
        "n_clients": part["n_clients"],
        "alpha": part["alpha"],
        "datapercent": part.get("datapercent", config["datasets"][dataset]["datapercent"]),
        "seed": part["seed"],
    }
