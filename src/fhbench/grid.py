"""The experiment grid: from the validated config to run keys, paths and resolved run configs.

The Snakemake workflow calls these functions; keeping them here makes them unit-testable and
keeps the rule files free of logic.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from fhbench.config_values import check_values, deep_merge
from fhbench.errors import ConfigError

# Every path the workflow reads or writes comes from this module (rules, CLI, reporting, tests).
# Results, logs and benchmarks live under the config's `name`, so two configs never overwrite
# each other's files; data lives under ids computed from what it is made from (source, mirror,
# demo spec, preparation options, split settings), so identical data is shared across configs
# and different data never shares a path.
RESULTS = "results/{name}"
LOGS = "logs/{name}"
RUN = "{dataset}/{partition}/{algorithm}/{variant}/seed{seed}"
RUN_DIR = f"{RESULTS}/runs/{RUN}"
CHECKPOINT_DIR = f"{RESULTS}/checkpoints/{RUN}"
RUN_BENCHMARK = f"{RESULTS}/benchmarks/run_federation/{RUN}.tsv"
RUN_LOG = f"{LOGS}/run_federation/{RUN}.log"
RAW = "resources/raw/{dataset}/{origin}"
DOWNLOADS = "resources/downloads/{dataset}/{origin}"
PREPARED = "resources/prepared/{dataset}/{prep}"
SPLIT = "resources/partitions/{dataset}/{prep}/{split}.json"
# The label priors of a split (fhbench.reporting.priors), written beside it by the same job.
SPLIT_PRIORS = "resources/partitions/{dataset}/{prep}/{split}.priors.csv"
MODEL = "resources/models/{architecture}/{model}"
# Wildcard patterns of the content-keyed data ids ("demo-3f2a9c1b", "remote-0c1d2e3f",
# "fhbench_balanced-9b0d5082bf": a split id starts with its scheme, which may hold "_").
DATA_ID = r"[a-z0-9_]+-[0-9a-f]{10}"
# The variant of a tuned experiment's final runs: default settings with the hyperparameters its
# group's tuning selected, read from the selection at run time (fhbench.tuning).
TUNED = "tuned"


@dataclass(frozen=True, order=True)
class RunKey:
    dataset: str
    partition: str
    algorithm: str
    variant: str
    seed: int
    name: str = "paper"  # the config's name: results/{name}/runs/...

    @property
    def directory(self) -> str:
        return RUN_DIR.format(**self.__dict__)

    @property
    def metrics(self) -> str:
        return f"{self.directory}/metrics.csv"

    @property
    def label(self) -> str:
        """How logs and screens name a run: ``dataset/partition/algorithm/variant/seedN``."""
        return f"{self.dataset}/{self.partition}/{self.algorithm}/{self.variant}/seed{self.seed}"

    @property
    def info(self) -> str:
        """run.json: resolved config, status, cost and provenance of the run."""
        return f"{self.directory}/run.json"

    @property
    def checkpoints(self) -> str:
        return CHECKPOINT_DIR.format(**self.__dict__)

    @property
    def log(self) -> str:
        return RUN_LOG.format(**self.__dict__)

    @property
    def benchmark(self) -> str:
        return RUN_BENCHMARK.format(**self.__dict__)

    @property
    def diagnostics(self) -> str:
        """Per round and client: how far the run's LoRA A, B and head moved (fhbench.diagnostics)."""
        return f"{self.directory}/diagnostics.csv"

    @property
    def mixing(self) -> str:
        """The run's server matrices per evaluation round (fhbench.mixing; EPFL's weights)."""
        return f"{self.directory}/mixing.csv"


def config_name(config: dict) -> str:
    """The config's ``name``: the folder under results/ and logs/ everything it produces lives in."""
    return config["name"]


def results_dir(config: dict) -> str:
    return RESULTS.format(name=config_name(config))


def logs_dir(config: dict) -> str:
    return LOGS.format(name=config_name(config))


def short_hash(value: object) -> str:
    """A stable 10-hex-digit digest of a JSON-able value (key order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def strip_credentials(url: str | None) -> str | None:
    """``https://user:token@host/x`` → ``https://host/x``: a mirror's password must not change
    (or appear in) a data path."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url, flags=re.IGNORECASE) if url else url


def origin_spec(config: dict, dataset: str, public: bool = False) -> dict:
    """What a dataset's raw files are made from: its source, mirror URL or demo twin spec.

    ``public``: the separate draw of the twin a demo backbone is pretrained on
    (``datasets.<name>.pretrain.public``, :mod:`fhbench.pretrain`)."""
    ds = config["datasets"][dataset]
    if public:
        return {"dataset": dataset, "source": "demo", "base_url": None, "demo": ds["pretrain"]["public"]}
    return {
        "dataset": dataset,
        "source": ds["source"],
        "base_url": strip_credentials(ds.get("base_url")) if ds["source"] == "remote" else None,
        "demo": ds.get("demo", {}) if ds["source"] == "demo" else None,
    }


def origin_id(config: dict, dataset: str, public: bool = False) -> str:
    spec = origin_spec(config, dataset, public)
    return f"{spec['source']}-{short_hash(spec)}"


def prep_spec(config: dict, dataset: str, public: bool = False) -> dict:
    # The public draw is prepared with the clients' options: the backbone sees the same inputs.
    return {"origin": origin_id(config, dataset, public), "prepare": config["datasets"][dataset].get("prepare", {})}


def prep_id(config: dict, dataset: str, public: bool = False) -> str:
    source = "demo" if public else config["datasets"][dataset]["source"]
    return f"{source}-{short_hash(prep_spec(config, dataset, public))}"


def split_id(config: dict, dataset: str, partition: str) -> str:
    """A split is keyed by its prepared data and its resolved settings, not by the partition's
    name: two configs that call the same split differently share it."""
    params = partition_params(config, dataset, partition)
    return f"{params['scheme']}-{short_hash({'prepared': prep_id(config, dataset), **params})}"


def raw_dir(config: dict, dataset: str, public: bool = False) -> str:
    return RAW.format(dataset=dataset, origin=origin_id(config, dataset, public))


def download_dir(config: dict, dataset: str) -> str:
    """Partial downloads of one origin (resumed by a retry)."""
    return DOWNLOADS.format(dataset=dataset, origin=origin_id(config, dataset))


def prepared_dir(config: dict, dataset: str, public: bool = False) -> str:
    return PREPARED.format(dataset=dataset, prep=prep_id(config, dataset, public))


def split_path(config: dict, dataset: str, partition: str) -> str:
    return SPLIT.format(dataset=dataset, prep=prep_id(config, dataset), split=split_id(config, dataset, partition))


def split_priors_path(config: dict, dataset: str, partition: str) -> str:
    return SPLIT_PRIORS.format(dataset=dataset, prep=prep_id(config, dataset), split=split_id(config, dataset, partition))


def model_spec(config: dict, backbone: str) -> dict:
    bb = config["backbones"][backbone]
    return {"architecture": bb["architecture"], "hf_id": bb["hf_id"], "tiny": bb.get("tiny")}


def model_id(config: dict, backbone: str) -> str:
    kind = "tiny" if config["backbones"][backbone].get("tiny") else "hub"
    return f"{kind}-{short_hash(model_spec(config, backbone))}"


def model_dir(config: dict, backbone: str) -> str:
    """Weights keyed by architecture, hub id and tiny spec: a tiny twin never stands in for real weights."""
    return MODEL.format(architecture=config["backbones"][backbone]["architecture"], model=model_id(config, backbone))


PRETRAIN_DEFAULTS = {"holdout": 0.2, "seed": 0}


def pretrain_spec(config: dict, dataset: str) -> dict:
    """What a dataset's pretrained demo backbone is made from: the base model, the prepared public
    draw and the training settings (``datasets.<name>.pretrain``, :mod:`fhbench.pretrain`)."""
    ds = config["datasets"][dataset]
    pre = PRETRAIN_DEFAULTS | {k: v for k, v in ds["pretrain"].items() if k != "public"}
    return {"base": model_id(config, ds["backbone"]), "public": prep_id(config, dataset, public=True), "training": pre}


def pretrained_id(config: dict, dataset: str) -> str:
    return f"pre-{short_hash(pretrain_spec(config, dataset))}"


def run_model_dir(config: dict, dataset: str) -> str:
    """The weights a dataset's runs load: its pretrained demo backbone when ``pretrain`` is set,
    else its backbone's fetched (or tiny) weights."""
    ds = config["datasets"][dataset]
    if not ds.get("pretrain"):
        return model_dir(config, ds["backbone"])
    return MODEL.format(architecture=config["backbones"][ds["backbone"]]["architecture"], model=pretrained_id(config, dataset))


def pretrain_settings(config: dict, dataset: str) -> dict:
    """Everything :func:`fhbench.pretrain.pretrain_backbone` takes besides its folders."""
    ds = config["datasets"][dataset]
    return {"architecture": config["backbones"][ds["backbone"]]["architecture"], **pretrain_spec(config, dataset)["training"]}


# Memory (MB) and time (minutes) each rule's job asks for, so that a Slurm job is neither killed
# for memory nor held back by an inflated request. prepare_data streams into memory-mapped
# arrays (real ICBHI/SPRSound at 8 s); downloads of the largest sources take hours on slow links.
# config.resources.<rule> overrides; run_federation's come from config.resources.run_federation.
RULE_RESOURCES = {
    "acquire_data": {"mem_mb": 2000, "runtime": 480},
    "prepare_data": {"mem_mb": 4000, "runtime": 240},
    "fetch_model": {"mem_mb": 4000, "runtime": 60},
    "pretrain_model": {"mem_mb": 4000, "runtime": 30},
    "make_partition": {"mem_mb": 2000, "runtime": 15},
    "make_table": {"mem_mb": 2000, "runtime": 15},
    "label_priors": {"mem_mb": 2000, "runtime": 15},
    "dataset_table": {"mem_mb": 2000, "runtime": 15},
    "plot_split": {"mem_mb": 2000, "runtime": 15},
    "efficiency_table": {"mem_mb": 2000, "runtime": 15},
    "plot_figure": {"mem_mb": 2000, "runtime": 15},
    "write_report": {"mem_mb": 2000, "runtime": 15},
    "judge_claims": {"mem_mb": 2000, "runtime": 15},
    "select_trial": {"mem_mb": 2000, "runtime": 15},
    "tuning_report": {"mem_mb": 2000, "runtime": 15},
}


def rule_resources(config: dict, rule: str) -> dict[str, int]:
    """``mem_mb`` and ``runtime`` of one rule's jobs (config.resources.<rule> over the defaults)."""
    if rule == "run_federation":
        res = config.get("resources", {}).get("run_federation", {})
        return {"mem_mb": res.get("mem_mb", 4000), "runtime": res.get("runtime", 60)}
    return RULE_RESOURCES[rule] | config.get("resources", {}).get(rule, {})


def wildcard_paths(config: dict) -> dict[str, str]:
    """The path patterns the workflow's rules declare (Snakemake wildcards in braces)."""
    keep = {k: "{" + k + "}" for k in ("dataset", "partition", "algorithm", "variant", "seed")}
    name = config_name(config)
    return {
        "raw": RAW,
        "downloads": DOWNLOADS,
        "prepared": PREPARED,
        "split": SPLIT,
        "split_priors": SPLIT_PRIORS,
        "model": MODEL,
        "run": RUN_DIR.format(name=name, **keep),
        "checkpoints": CHECKPOINT_DIR.format(name=name, **keep),
        "run_log": RUN_LOG.format(name=name, **keep),
        "run_benchmark": RUN_BENCHMARK.format(name=name, **keep),
        "results": results_dir(config),
        "tables": tables_dir(config),
        "figures": figures_dir(config),
        "report": report_path(config),
        "benchmarks": benchmarks_dir(config),
        "logs": logs_dir(config),
    }


def find_by_id(config: dict, what: str, value: str, **fixed: str) -> str:
    """The config entry (backbone or partition name) whose id is ``value``: the workflow's rules
    map a content-keyed path back to the settings that make it. Raises ``ConfigError``."""
    if what == "model":
        names = [b for b in config["backbones"] if model_id(config, b) == value]
    elif what == "pretrained":
        names = [d for d in config["datasets"] if config["datasets"][d].get("pretrain") and pretrained_id(config, d) == value]
    elif what == "split":
        names = [p for p in config["partitions"] if split_id(config, fixed["dataset"], p) == value]
    else:
        raise ValueError(what)
    if not names:
        raise ConfigError(f"no {what} of this config has id {value!r} {fixed or ''}".strip())
    return names[0]


SNAKEMAKE_TIMESTAMP = ".snakemake_timestamp"  # Snakemake's marker in every directory() output it makes


def restored_data(path: str | Path) -> bool:
    """A data folder present without Snakemake's timestamp marker: restored by ``dvc pull`` or
    ``dvc checkout`` (.dvcignore keeps the marker out of DVC) rather than made by this
    workspace's Snakemake. Its files carry the restore's timestamps, in no particular order, so
    the workflow takes it as current (``ancient``) instead of comparing them."""
    path = Path(path)
    return path.is_dir() and not (path / SNAKEMAKE_TIMESTAMP).exists()


def check_data_id(config: dict, dataset: str, kind: str, value: str) -> bool:
    """A raw/prepared path asked for must be one this config's settings make: the clients' data
    or the public draw a demo backbone is pretrained on. Returns whether it is the public one."""
    make = {"origin": origin_id, "prep": prep_id}[kind]
    expected = make(config, dataset)
    if value == expected:
        return False
    if config["datasets"][dataset].get("pretrain") and value == make(config, dataset, public=True):
        return True
    raise ConfigError(f"datasets.{dataset}: {kind} id {value!r} is not this config's ({expected!r})")


# Where a run's other files live, one function each: `fhbench status` and the end-of-workflow
# summary read them; rules/train.smk writes them (through RunKey and wildcard_paths).
def run_info(config: dict, key: RunKey) -> str:
    return key.info


def checkpoint_dir(config: dict, key: RunKey) -> str:
    return key.checkpoints


def log_path(config: dict, key: RunKey) -> str:
    return key.log


def tracking_dir(config: dict, key: RunKey) -> str | None:
    """The run's TensorBoard event folder when ``tracking: tensorboard``, else None."""
    return f"{key.directory}/tensorboard" if config.get("tracking", "none") == "tensorboard" else None


def check_references(config: dict) -> None:
    """Cross-checks the schema cannot express: every name used is defined. Errors name the key."""

    check_values(config)
    for name, ds in config["datasets"].items():
        if ds["backbone"] not in config["backbones"]:
            raise ConfigError(f"datasets.{name}.backbone: {ds['backbone']!r} is not defined under backbones")
        check_pretrain(config, name)
    from fhbench.reporting import FIGURE_KINDS, TABLE_KINDS

    sections = {"datasets": "datasets", "partitions": "partitions", "algorithms": "algorithms", "variants": "variants"}
    for exp_name, exp in config["experiments"].items():
        if exp_name == "unseen":  # make_table's {experiment}_{metric} would claim tables/unseen_accuracy.*
            raise ConfigError("experiments.unseen: the name is reserved for the participation-gap table (unseen_accuracy.*); rename it")
        for field, section in sections.items():
            for value in exp.get(field, []):
                if value not in config[section]:
                    raise ConfigError(f"experiments.{exp_name}.{field}: {value!r} is not defined under {section}")
        for value in exp.get("references", []):
            if value not in config["algorithms"]:
                raise ConfigError(f"experiments.{exp_name}.references: {value!r} is not defined under algorithms")
        for value in exp.get("compare", []):
            if value not in exp["algorithms"]:
                raise ConfigError(
                    f"experiments.{exp_name}.compare: {value!r} is not one of the experiment's algorithms {exp['algorithms']}"
                )
        if exp.get("kind", "main") not in TABLE_KINDS:
            raise ConfigError(f"experiments.{exp_name}.kind: {exp.get('kind')!r} is not one of {sorted(TABLE_KINDS)}")
    if CLAIMS_FIGURE in config.get("figures", {}):
        raise ConfigError(f"figures.{CLAIMS_FIGURE}: the name is taken by the claims' forest plot; rename the figure")
    for fig_name, fig in config.get("figures", {}).items():
        if fig["experiment"] not in config["experiments"]:
            raise ConfigError(f"figures.{fig_name}.experiment: {fig['experiment']!r} is not defined under experiments")
        if fig["kind"] not in FIGURE_KINDS:
            raise ConfigError(f"figures.{fig_name}.kind: {fig['kind']!r} is not one of {sorted(FIGURE_KINDS)}")
    headline = config.get("report", {}).get("headline", "main")
    if headline not in config["experiments"]:
        raise ConfigError(f"report.headline: {headline!r} is not defined under experiments")
    from fhbench.algorithms import ALGORITHMS
    from fhbench.data import DATASETS, check_options, check_prepare_options
    from fhbench.models import BACKBONES
    from fhbench.participation import check_config as check_participation
    from fhbench.partition import check_partition_config

    for name in config["algorithms"]:
        if name not in ALGORITHMS:
            raise ConfigError(f"algorithms.{name}: no such algorithm; registered: {sorted(ALGORITHMS)}")
    hyperparameters = schema_hyperparameters(config["algorithms"])
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
            check_options(name, "demo", config["datasets"][name].get("demo", {}))
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
        check_partition_config(name, part)
    check_participation(config)
    for dataset, partition in used_data_partitions(config):
        group = config["partitions"][partition].get("group")
        if group is not None and group not in DATASETS[dataset].natural_groups:
            raise ConfigError(
                f"partitions.{partition}.group: {group!r} is not a natural grouping of {dataset} "
                f"(has: {list(DATASETS[dataset].natural_groups) or 'none'})"
            )


def check_pretrain(config: dict, dataset: str) -> None:
    """``pretrain`` only on a demo twin with a tiny backbone, on a public draw disjoint from the clients'."""
    ds = config["datasets"][dataset]
    if not ds.get("pretrain"):
        return
    if ds.get("source", "remote") != "demo" or not config["backbones"][ds["backbone"]].get("tiny"):
        raise ConfigError(
            f"datasets.{dataset}.pretrain: only a demo twin with a tiny backbone is pretrained here (real backbones come pretrained); remove it"
        )
    if ds["pretrain"]["public"].get("seed", 0) == ds.get("demo", {}).get("seed", 0):
        raise ConfigError(
            f"datasets.{dataset}.pretrain.public.seed: equals the clients' twin seed, so the public draw would repeat "
            "the clients' samples; give it a seed of its own"
        )


def schema_hyperparameters(names=None) -> dict[str, set[str]]:
    """Each algorithm's hyperparameters as the config schema lists them (plugins among ``names``:
    their dataclass fields), read without importing the algorithms (and torch) so that
    ``snakemake -n`` stays quick; a test checks they equal each class's ``hyperparameters()``."""
    from fhbench.algorithm_schema import algorithm_schemas

    return {name: set(entry.get("properties", {})) for name, entry in algorithm_schemas(names).items()}


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
            if config["partitions"][name].get("group") is None or config["partitions"][name]["group"] in DATASETS[dataset].natural_groups
        ),
        key=lambda pair: (dataset_order[pair[0]], order[pair[1]]),
    )


def data_targets(config: dict) -> list[str]:
    """Raw, prepared and partition paths of every configured dataset (the DVC-tracked data)."""
    datasets = list(config["datasets"])
    public = [d for d in datasets if config["datasets"][d].get("pretrain")]
    return (
        [raw_dir(config, d) for d in datasets]
        + [raw_dir(config, d, public=True) for d in public]
        + [prepared_dir(config, d) for d in datasets]
        + [prepared_dir(config, d, public=True) for d in public]
        + [split_path(config, d, p) for d, p in data_partitions(config)]
    )


def dataset_report_targets(config: dict) -> list[str]:
    """The dataset table and one label-distribution figure per (dataset, partition)."""
    table = [f"{tables_dir(config)}/datasets.{ext}" for ext in ("csv", "md", "tex")]
    figures = [f"{figures_dir(config)}/split_{d}_{p}.{ext}" for d, p in data_partitions(config) for ext in ("pdf", "png")]
    return table + figures


def tuned_experiments(config: dict) -> list[str]:
    """Experiments listed under ``tuning.experiments``: their runs are the tuned variant (fhbench.tuning)."""
    return list((config.get("tuning") or {}).get("experiments", []))


def priors_path(config: dict) -> str:
    """The label priors of every split the experiments use (:mod:`fhbench.reporting.priors`)."""
    return f"{tables_dir(config)}/label_priors.csv"


def prior_sources(config: dict, experiment: str | None = None) -> list[tuple[str, str, str]]:
    """``(dataset, partition, split priors path)`` of every pair some experiment runs (or one
    experiment's pairs): the priors its table or the label-priors table is assembled from."""
    if experiment is None:
        pairs = used_data_partitions(config)
    else:
        exp = config["experiments"][experiment]
        pairs = sorted({(d, p) for d in exp["datasets"] for p in exp["partitions"]})
    return [(d, p, split_priors_path(config, d, p)) for d, p in pairs]


def experiment_runs(config: dict, experiment: str) -> list[RunKey]:
    exp = config["experiments"][experiment]
    seeds = exp.get("seeds", config["seeds"])
    tuned = experiment in tuned_experiments(config)
    # References (local, centralized) run once per column, in their default setting (tuned in a tuned experiment).
    methods = [(a, v) for a in exp["algorithms"] for v in ([TUNED] if tuned else exp.get("variants", ["default"]))]
    methods += [(a, TUNED if tuned else "default") for a in exp.get("references", []) if a not in exp["algorithms"]]
    return sorted(
        {
            RunKey(d, p, a, v, int(s), config_name(config))
            for d in exp["datasets"]
            for p in exp["partitions"]
            for a, v in methods
            for s in seeds
        }
    )


def all_runs(config: dict) -> list[RunKey]:
    keys = {key for exp in config["experiments"] for key in experiment_runs(config, exp)}
    # A tuned experiment's runs with default hyperparameters, which its tuned-vs-default table compares against.
    keys |= {
        RunKey(k.dataset, k.partition, k.algorithm, "default", k.seed, k.name)
        for e in tuned_experiments(config)
        for k in experiment_runs(config, e)
    }
    return sorted(keys)


TABLE_FORMATS = ("csv", "md", "tex", "html")


def tables_dir(config: dict) -> str:
    return f"{results_dir(config)}/tables"


def figures_dir(config: dict) -> str:
    return f"{results_dir(config)}/figures"


def report_path(config: dict) -> str:
    return f"{results_dir(config)}/REPORT.md"


def benchmarks_dir(config: dict) -> str:
    return f"{results_dir(config)}/benchmarks"


def is_demo(config: dict) -> bool:
    """A demo config: every dataset is a generated twin (REPORT.md then says its numbers are not
    comparable to the paper's). ``report.demo`` overrides."""
    explicit = config.get("report", {}).get("demo")
    if explicit is not None:
        return bool(explicit)
    return all(ds["source"] == "demo" for ds in config["datasets"].values())


FIGURE_FORMATS = ("pdf", "png")


def experiment_metric_names(config: dict, experiment: str) -> list[str]:
    """The metrics an experiment tabulates (``accuracy`` unless it lists more)."""
    return list(config["experiments"][experiment].get("metrics", ["accuracy"]))


def table_targets(config: dict, experiment: str | None = None) -> list[str]:
    """``results/{name}/tables/{experiment}_{metric}.{csv,md,tex,html}`` for one or every experiment."""
    experiments = [experiment] if experiment else list(config["experiments"])
    return [
        f"{tables_dir(config)}/{exp}_{metric}.{ext}"
        for exp in experiments
        for metric in experiment_metric_names(config, exp)
        for ext in TABLE_FORMATS
    ]


def figure_targets(config: dict) -> list[str]:
    """``results/{name}/figures/{figure}.{pdf,png}`` for every figure named under ``figures``."""
    return [f"{figures_dir(config)}/{name}.{ext}" for name in config.get("figures", {}) for ext in FIGURE_FORMATS]


def figure_runs(config: dict, figure: str) -> list[RunKey]:
    """The runs one figure is computed from: those of the experiment it names."""
    return experiment_runs(config, config["figures"][figure]["experiment"])


def figure_inputs(config: dict, figure: str) -> list[str]:
    """The files one figure reads: its runs' metrics, or their server matrices for kinds that
    draw those (``fhbench.reporting.figures.MIXING_KINDS``), their diagnostics for the
    diagnostics kinds, plus their run.json for kinds that need the clients' training sizes
    (``INFO_KINDS``)."""
    from fhbench.reporting.figures import DIAGNOSTICS_KINDS, INFO_KINDS, MIXING_KINDS

    kind = config["figures"][figure]["kind"]
    runs = figure_runs(config, figure)
    if kind in MIXING_KINDS:
        return [key.mixing for key in runs]
    if kind in DIAGNOSTICS_KINDS:
        return [key.diagnostics for key in runs]
    return [key.metrics for key in runs] + ([key.info for key in runs] if kind in INFO_KINDS else [])


def report_targets(config: dict) -> list[str]:
    return [report_path(config)]


def efficiency_targets(config: dict) -> list[str]:
    """The parameter and communication accounting table (computed from configs, no runs)."""
    return [f"{tables_dir(config)}/efficiency.{ext}" for ext in ("csv", "md", "tex")]


def efficiency_settings(config: dict) -> dict:
    """The parts of the config the efficiency table is computed from (its rule's params)."""
    return {
        "backbones": config["backbones"],
        "algorithms": config["algorithms"],
        "datasets": {name: {"backbone": ds["backbone"]} for name, ds in config["datasets"].items()},
    }


CLAIMS_FIGURE = "claims"  # figures/claims.{pdf,png}: the forest plot of the claims table


def claims_targets(config: dict) -> list[str]:
    """The paper's claims with their verdicts (fhbench.reporting.claims) and their forest plot."""
    tables = [f"{tables_dir(config)}/claims.{ext}" for ext in ("csv", "md")]
    return tables + [f"{figures_dir(config)}/{CLAIMS_FIGURE}.{ext}" for ext in FIGURE_FORMATS]


def final_targets(config: dict) -> list[str]:
    """Every table, figure and the reproduction report (the runs follow from them)."""
    return (
        table_targets(config)
        + [priors_path(config)]
        + efficiency_targets(config)
        + figure_targets(config)
        + unseen_targets(config)
        + claims_targets(config)
        + report_targets(config)
    )


def unseen_experiments(config: dict) -> list[str]:
    """Experiments with a partition that holds clients out (``partitions.<name>.unseen``)."""
    return [name for name, exp in config["experiments"].items() if any(config["partitions"][p].get("unseen", 0) for p in exp["partitions"])]


def unseen_targets(config: dict) -> list[str]:
    """``unseen_accuracy.{csv,md}`` (fhbench.reporting.unseen) when some experiment holds clients out."""
    return [f"{tables_dir(config)}/unseen_accuracy.{ext}" for ext in ("csv", "md")] if unseen_experiments(config) else []


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
        "variants": [TUNED] if experiment in tuned_experiments(config) else list(exp.get("variants", ["default"])),
        "compare": list(exp.get("compare", [])),
        "references": list(exp.get("references", [])),
        "eval_point": exp.get("eval_point", "local"),
        "reference": exp.get("reference"),
        "metrics": experiment_metric_names(config, experiment),
        "runs": [[k.dataset, k.partition, k.algorithm, k.variant, k.seed] for k in experiment_runs(config, experiment)],
    }


def figure_spec(config: dict, figure: str) -> dict:
    fig = config["figures"][figure]
    return {
        "name": figure,
        "kind": fig["kind"],
        "experiment": fig["experiment"],
        "title": fig.get("title", figure),
        "eval_point": fig.get("eval_point", config["experiments"][fig["experiment"]].get("eval_point", "local")),
        "references": list(config["experiments"][fig["experiment"]].get("references", [])),
    }


def resolve_run_config(config: dict, key: RunKey) -> dict:
    """Everything :class:`fhbench.federation.RunConfig` needs for one run, with variant overrides applied."""
    variant = {} if key.variant == TUNED else config["variants"][key.variant]  # tuned: its run applies the selection
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
        # Only when set: the runs of configs without it keep their params (and are not redone).
        **({"participation": training["participation"]} if "participation" in training else {}),
        "lr": dataset["lr"],
        "batch_size": dataset["batch_size"],
        "lora": lora,
        "algorithm_params": algorithm_params,
        "model_config": backbone.get("tiny"),
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
    """Arguments of :func:`fhbench.partition.make_partition` for one (dataset, partition).

    A scheme's own options and ``unseen`` appear only where they apply: the split ids (and
    paths) of every other partition stay as they were."""
    from fhbench.partition import SCHEME_OPTIONS

    part = config["partitions"][partition]
    params = {
        "scheme": part["scheme"],
        "n_clients": part.get("n_clients", 20),
        "alpha": part.get("alpha", 0.1),
        "datapercent": part.get("datapercent", config["datasets"][dataset].get("datapercent", 1.0)),
        "seed": part.get("seed", 2025),
        "group": part.get("group"),
        "n_groups": part.get("n_groups", 2),
    }
    params.update({key: part.get(key, default) for key, default in SCHEME_OPTIONS.get(part["scheme"], {}).items()})
    if part.get("unseen", 0):
        params["unseen"] = part["unseen"]
    return params
