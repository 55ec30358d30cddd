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

    @property
    def mixing(self) -> str:
        """The run's server matrices per evaluation round (fhbench.mixing; EPFL's weights)."""
        return f"{self.directory}/mixing.csv"


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
    from fhbench.reporting import FIGURE_KINDS, TABLE_KINDS

    sections = {"datasets": "datasets", "partitions": "partitions", "algorithms": "algorithms", "variants": "variants"}
    for exp_name, exp in config["experiments"].items():
        for field, section in sections.items():
            for value in exp.get(field, []):
                if value not in config[section]:
                    raise ConfigError(f"experiments.{exp_name}.{field}: {value!r} is not defined under {section}")
        for value in exp.get("references", []):
            if value not in config["algorithms"]:
                raise ConfigError(f"experiments.{exp_name}.references: {value!r} is not defined under algorithms")
        for value in exp.get("compare", []):
            if value not in exp["algorithms"]:
                raise ConfigError(f"experiments.{exp_name}.compare: {value!r} is not one of the experiment's algorithms {exp['algorithms']}")
        if exp.get("kind", "main") not in TABLE_KINDS:
            raise ConfigError(f"experiments.{exp_name}.kind: {exp.get('kind')!r} is not one of {sorted(TABLE_KINDS)}")
    for fig_name, fig in config.get("figures", {}).items():
        if fig["experiment"] not in config["experiments"]:
            raise ConfigError(f"figures.{fig_name}.experiment: {fig['experiment']!r} is not defined under experiments")
        if fig["kind"] not in FIGURE_KINDS:
            raise ConfigError(f"figures.{fig_name}.kind: {fig['kind']!r} is not one of {sorted(FIGURE_KINDS)}")
    headline = config.get("report", {}).get("headline", "main")
    if headline not in config["experiments"]:
        raise ConfigError(f"report.headline: {headline!r} is not defined under experiments")
    from fhbench.algorithms import ALGORITHMS
    from fhbench.data import DATASETS, check_prepare_options
    from fhbench.models import BACKBONES

    for name in config["algorithms"]:
        if name not in ALGORITHMS:
            raise ConfigError(f"algorithms.{name}: no such algorithm; registered: {sorted(ALGORITHMS)}")
    hyperparameters = schema_hyperparameters()
    for exp_name, exp in config["experiments"].items():
        # A variant's algorithm overrides must be hyperparameters of every algorithm it is crossed with.
        for variant in exp.get("variants", ["default"]):
            overrides = set(config["variants"][variant].get("algorithm", {}))
            for algorithm in exp["algorithms"]:
                unknown = overrides - hyperparameters.get(algorithm, set())
                if unknown:
                    raise ConfigError(
                        f"experiments.{exp_name}: variant {variant!r} sets {sorted(unknown)}, which algorithm {algorithm!r} does not have"
                    )
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


def schema_hyperparameters() -> dict[str, set[str]]:
    """Each algorithm's hyperparameters as the config schema lists them, read without importing
    the algorithms (and torch) so that ``snakemake -n`` stays quick; a test checks they equal
    each class's ``hyperparameters()``."""
    import yaml

    from fhbench.config import SCHEMA

    entries = yaml.safe_load(SCHEMA.read_text())["properties"]["algorithms"]["properties"]
    return {name: set(entry.get("properties", {})) for name, entry in entries.items()}


def used_data_partitions(config: dict) -> list[tuple[str, str]]:
    """Every (dataset, partition) pair some experiment runs: these get split, tabled and plotted."""
    return sorted({(d, p) for exp in config["experiments"].values() for d in exp["datasets"] for p in exp["partitions"]})


def data_partitions(config: dict) -> list[tuple[str, str]]:
    """The splits the dataset table and distribution figures describe and DVC tracks: every pair
    some experiment runs, plus each dataset under the first configured partition (so every
    dataset has a row), skipping natural partitions where the dataset lacks the group column."""
    from fhbench.data import DATASETS

    first = next(iter(config["partitions"]))
    used = {(d, p) for d, p in used_data_partitions(config) if d in config["datasets"]}
    pairs = used | {(d, first) for d in config["datasets"]}
    dataset_order = {name: i for i, name in enumerate(config["datasets"])}
    order = {name: i for i, name in enumerate(config["partitions"])}
    return sorted(
        (
            (dataset, name)
            for dataset, name in pairs
            if config["partitions"][name].get("group") is None
            or config["partitions"][name]["group"] in DATASETS[dataset].natural_groups
        ),
        key=lambda pair: (dataset_order[pair[0]], order[pair[1]]),
    )


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
    # References (local, centralized) run once per column, in their default setting.
    methods = [(a, v) for a in exp["algorithms"] for v in exp.get("variants", ["default"])]
    methods += [(a, "default") for a in exp.get("references", []) if a not in exp["algorithms"]]
    return sorted({RunKey(d, p, a, v, int(s)) for d in exp["datasets"] for p in exp["partitions"] for a, v in methods for s in seeds})


def all_runs(config: dict) -> list[RunKey]:
    return sorted({key for exp in config["experiments"] for key in experiment_runs(config, exp)})


TABLE_FORMATS = ("csv", "md", "tex", "html")
FIGURE_FORMATS = ("pdf", "png")


def experiment_metric_names(config: dict, experiment: str) -> list[str]:
    """The metrics an experiment tabulates (``accuracy`` unless it lists more)."""
    return list(config["experiments"][experiment].get("metrics", ["accuracy"]))


def table_targets(config: dict, experiment: str | None = None) -> list[str]:
    """``results/tables/{experiment}_{metric}.{csv,md,tex,html}`` for one or every experiment."""
    experiments = [experiment] if experiment else list(config["experiments"])
    return [
        f"results/tables/{exp}_{metric}.{ext}"
        for exp in experiments
        for metric in experiment_metric_names(config, exp)
        for ext in TABLE_FORMATS
    ]


def figure_targets(config: dict) -> list[str]:
    """``results/figures/{figure}.{pdf,png}`` for every figure named under ``figures``."""
    return [f"results/figures/{name}.{ext}" for name in config.get("figures", {}) for ext in FIGURE_FORMATS]


def figure_runs(config: dict, figure: str) -> list[RunKey]:
    """The runs one figure is computed from: those of the experiment it names."""
    return experiment_runs(config, config["figures"][figure]["experiment"])


def figure_inputs(config: dict, figure: str) -> list[str]:
    """The files one figure reads: its runs' metrics, or their server matrices for kinds that
    draw those (``fhbench.reporting.figures.MIXING_KINDS``)."""
    from fhbench.reporting.figures import MIXING_KINDS

    mixing = config["figures"][figure]["kind"] in MIXING_KINDS
    return [key.mixing if mixing else key.metrics for key in figure_runs(config, figure)]


def report_targets(config: dict) -> list[str]:
    return ["results/REPORT.md"]


def efficiency_targets(config: dict) -> list[str]:
    """The parameter and communication accounting table (computed from configs, no runs)."""
    return [f"results/tables/efficiency.{ext}" for ext in ("csv", "md", "tex")]


def final_targets(config: dict) -> list[str]:
    """Every table, figure and the reproduction report (the runs follow from them)."""
    return table_targets(config) + efficiency_targets(config) + figure_targets(config) + report_targets(config)


def partition_alphas(config: dict) -> dict[str, float]:
    """Dirichlet concentration of every partition, the x axis of the heterogeneity sweep."""
    return {name: float(part["alpha"]) for name, part in config["partitions"].items()}


def experiment_spec(config: dict, experiment: str) -> dict:
    """What the reporting code needs to know about one experiment (no paths, no run lists)."""
    exp = config["experiments"][experiment]
    return {
        "name": experiment,
        "kind": exp.get("kind", "main"),
        "title": exp.get("title", experiment),
        "datasets": list(exp["datasets"]),
        "partitions": list(exp["partitions"]),
        "algorithms": list(exp["algorithms"]),
        "variants": list(exp.get("variants", ["default"])),
        "compare": list(exp.get("compare", [])),
        "references": list(exp.get("references", [])),
        "eval_point": exp.get("eval_point", "local"),
        "reference": exp.get("reference"),
        "metrics": experiment_metric_names(config, experiment),
        "runs": [[k.dataset, k.partition, k.algorithm, k.variant, k.seed] for k in experiment_runs(config, experiment)],
    }


def figure_spec(config: dict, figure: str) -> dict:
    fig = config["figures"][figure]
    return {"name": figure, "kind": fig["kind"], "experiment": fig["experiment"], "title": fig.get("title", figure),
            "eval_point": fig.get("eval_point", config["experiments"][fig["experiment"]].get("eval_point", "local")),
            "references": list(config["experiments"][fig["experiment"]].get("references", []))}


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
        "eval_points": run_eval_points(config, key, training.get("eval_points", ["local", "received"])),
        "lr": dataset["lr"],
        "batch_size": dataset["batch_size"],
        "lora": lora,
        "algorithm_params": algorithm_params,
    }


def run_eval_points(config: dict, key: RunKey, base: list[str]) -> list[str]:
    """The evaluation points one run scores: ``training.eval_points`` plus those of every
    experiment that includes the run (its ``eval_points`` and the ``eval_point`` its table uses),
    so a budget config can score ``received`` only where a table or report needs it."""
    from fhbench.metrics import EVAL_POINTS

    wanted = set(base)
    for name, exp in config["experiments"].items():
        extra = set(exp.get("eval_points", [])) | {exp.get("eval_point", "local")}
        if not extra <= wanted and key in experiment_runs(config, name):
            wanted |= extra
    return [p for p in EVAL_POINTS if p in wanted]


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
        "n_groups": part.get("n_groups", 2),
    }
