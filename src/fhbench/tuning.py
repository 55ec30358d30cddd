"""Tuning: every method tuned with the same budget and selected on validation only.

The config's ``tuning`` section names the experiments to tune and how. For each **group**
(dataset, partition, algorithm) of those experiments, references included, the trial list is
``trials`` settings of the algorithm's search space (:mod:`fhbench.search_space`, declared by
each algorithm and overridable under ``tuning.spaces``): the configured values first when
``sampler.include_default``, then points of a scrambled quasi-Monte Carlo sequence
(``scipy.stats.qmc``) mapped onto the space. The sampler is seeded from ``sampler.seed`` and the
group's own key, never from its position, so the trial list is a pure function of the config and
the group: adding a dataset or an algorithm changes no other group's trials.

Every trial runs ``rounds`` rounds for each of ``seeds`` and scores its clients' validation part
only (``eval_splits: [val]``: it never evaluates on, or writes rows for, the test part). Its
score is :func:`validation_score`. The group's selection (:func:`select_trials`: the highest
score, ties to the lower trial number) is written to its own ``selected.json``; the tuned
experiment's final runs (variant ``tuned``, :data:`fhbench.grid.TUNED`) depend on that file and
read the selected values when they start (:func:`apply_selection`). That keeps the DAG static
(``snakemake -n all`` plans every trial, selection and final run) without Snakemake
checkpoints; the final runs' path (``.../{algorithm}/tuned/seed{seed}``) differs from the
default runs', and a changed selection reruns them because their input changed.

Paths (:class:`TrialKey`)::

    results/{name}/tuning/runs/{dataset}/{partition}/{algorithm}/trial{k}/seed{s}/{metrics.csv,run.json,mixing.csv}
    results/{name}/tuning/selected/{dataset}/{partition}/{algorithm}.json
    results/{name}/tables/tuning_trials.csv
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from fhbench import grid
from fhbench.errors import ConfigError
from fhbench.search_space import LR, Dimension, from_config

if TYPE_CHECKING:
    import pandas as pd

TUNED = grid.TUNED
TRIAL = "{dataset}/{partition}/{algorithm}/trial{trial}/seed{seed}"
TRIAL_DIR = f"{grid.RESULTS}/tuning/runs/{TRIAL}"
TRIAL_CHECKPOINTS = f"{grid.RESULTS}/tuning/checkpoints/{TRIAL}"
TRIAL_LOG = f"{grid.LOGS}/tune_trial/{TRIAL}.log"
TRIAL_BENCHMARK = f"{grid.RESULTS}/benchmarks/tune_trial/{TRIAL}.tsv"
SELECTION = f"{grid.RESULTS}/tuning/selected/{{dataset}}/{{partition}}/{{algorithm}}.json"
SAMPLERS = ("sobol", "halton", "latin_hypercube")
# What the schema fills in when a key is left out (kept here too for configs built in code).
DEFAULTS = {
    "seeds": [0],
    "score": {"metric": "balanced_accuracy", "eval_point": "local", "last": 3},
    "sampler": {"method": "sobol", "seed": 0, "include_default": True},
    "spaces": {},
}


@dataclass(frozen=True, order=True)
class TrialKey:
    """One trial run: trial ``trial`` of a group, trained with ``seed``."""

    dataset: str
    partition: str
    algorithm: str
    trial: int
    seed: int
    name: str = "paper"

    @property
    def variant(self) -> str:
        """How its metrics rows name it (their ``variant`` column)."""
        return f"trial{self.trial}"

    @property
    def directory(self) -> str:
        return TRIAL_DIR.format(**self.__dict__)

    @property
    def metrics(self) -> str:
        return f"{self.directory}/metrics.csv"

    @property
    def info(self) -> str:
        return f"{self.directory}/run.json"


def settings(config: dict) -> dict:
    """The ``tuning`` section with its defaults filled in; empty when nothing is tuned."""
    section = config.get("tuning")
    if not section:
        return {}
    out = {**DEFAULTS, **section}
    for key in ("score", "sampler"):
        out[key] = {**DEFAULTS[key], **section.get(key, {})}
    return out


def tuned_experiments(config: dict) -> list[str]:
    return grid.tuned_experiments(config)


def experiment_methods(config: dict, experiment: str) -> list[str]:
    """The algorithms a tuned experiment tunes: its methods, then its reference rows."""
    exp = config["experiments"][experiment]
    return list(exp["algorithms"]) + [a for a in exp.get("references", []) if a not in exp["algorithms"]]


def experiment_groups(config: dict, experiment: str) -> list[tuple[str, str, str]]:
    exp = config["experiments"][experiment]
    return [(d, p, a) for d in exp["datasets"] for p in exp["partitions"] for a in experiment_methods(config, experiment)]


def groups(config: dict) -> list[tuple[str, str, str]]:
    """Every (dataset, partition, algorithm) some tuned experiment tunes, each once."""
    return sorted({g for exp in tuned_experiments(config) for g in experiment_groups(config, exp)})


def budget(config: dict, algorithm: str) -> int:
    """Trials per (dataset, partition) for ``algorithm``: the same for every method (checked)."""
    trials = settings(config)["trials"]
    return int(trials[algorithm]) if isinstance(trials, dict) else int(trials)


def algorithm_class(algorithm: str):
    from fhbench.algorithms import ALGORITHMS

    return ALGORITHMS[algorithm]


def search_space(config: dict, algorithm: str) -> dict[str, Dimension]:
    """The algorithm's declared space with ``tuning.spaces.<algorithm>`` laid over it (``null`` drops a dimension)."""
    space = dict(algorithm_class(algorithm).search_space)
    for name, entry in settings(config).get("spaces", {}).get(algorithm, {}).items():
        if entry is None:
            space.pop(name, None)
        else:
            space[name] = from_config(f"tuning.spaces.{algorithm}.{name}", entry)
    return space


def configured_values(config: dict, dataset: str, algorithm: str) -> dict[str, Any]:
    """The values a default run uses: the dataset's lr, the algorithm's defaults and config entry."""
    cls = algorithm_class(algorithm)
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING} if hasattr(cls, "__dataclass_fields__") else {}
    return {LR: config["datasets"][dataset]["lr"], **defaults, **config["algorithms"].get(algorithm, {})}


def group_seed(base_seed: int, dataset: str, partition: str, algorithm: str) -> int:
    """The group's sampler seed, from its own key: no other group's presence or order changes it."""
    digest = hashlib.sha256(json.dumps([int(base_seed), dataset, partition, algorithm]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def unit_points(method: str, n: int, dimensions: int, seed: int):
    """``n`` points of ``method``'s scrambled sequence in the unit cube [0, 1)^dimensions (scipy.stats.qmc).

    Sobol points come as the first ``n`` of the next power-of-two block, which keeps the
    sequence's balance without scipy's warning about other sizes.
    """
    import numpy as np
    from scipy.stats import qmc

    if n <= 0 or dimensions == 0:
        return np.zeros((max(n, 0), dimensions))
    rng = np.random.default_rng(seed)
    if method == "sobol":
        return qmc.Sobol(dimensions, scramble=True, rng=rng).random_base2(max(0, math.ceil(math.log2(n))))[:n]
    if method == "halton":
        return qmc.Halton(dimensions, scramble=True, rng=rng).random(n)
    if method == "latin_hypercube":
        return qmc.LatinHypercube(dimensions, rng=rng).random(n)
    raise ConfigError(f"tuning.sampler.method: {method!r} is not one of {list(SAMPLERS)}")


def group_trials(config: dict, dataset: str, partition: str, algorithm: str) -> list[dict[str, Any]]:
    """The hyperparameter values of each trial of one group, trial 0 first (a pure function of the
    config and the group)."""
    # Everything the list depends on, as the key of a cache: the workflow asks once per trial job.
    inputs = [settings(config), config["datasets"][dataset]["lr"], config["algorithms"].get(algorithm), dataset, partition, algorithm]
    return [dict(t) for t in _group_trials(json.dumps(inputs, sort_keys=True, default=str), config, dataset, partition, algorithm)]


_TRIALS_CACHE: dict[str, list[dict[str, Any]]] = {}


def _group_trials(key: str, config: dict, dataset: str, partition: str, algorithm: str) -> list[dict[str, Any]]:
    if key not in _TRIALS_CACHE:
        _TRIALS_CACHE[key] = _draw_group_trials(config, dataset, partition, algorithm)
    return _TRIALS_CACHE[key]


def _draw_group_trials(config: dict, dataset: str, partition: str, algorithm: str) -> list[dict[str, Any]]:
    tuning = settings(config)
    space = search_space(config, algorithm)
    configured = configured_values(config, dataset, algorithm)
    n = budget(config, algorithm)
    trials = [{name: configured[name] for name in space}] if tuning["sampler"]["include_default"] else []
    seed = group_seed(tuning["sampler"]["seed"], dataset, partition, algorithm)
    for point in unit_points(tuning["sampler"]["method"], n - len(trials), len(space), seed):
        trials.append({name: dim.value(u, configured[name]) for (name, dim), u in zip(space.items(), point)})
    return trials[:n]


def trial_runs(config: dict) -> list[TrialKey]:
    """Every trial run of the config: each group's trials × the tuning seeds."""
    tuning, name = settings(config), grid.config_name(config)
    return [
        TrialKey(d, p, a, k, int(s), name) for d, p, a in groups(config) for k in range(budget(config, a)) for s in tuning.get("seeds", [0])
    ]


def group_trial_runs(config: dict, dataset: str, partition: str, algorithm: str) -> list[TrialKey]:
    name, seeds = grid.config_name(config), settings(config).get("seeds", [0])
    return [TrialKey(dataset, partition, algorithm, k, int(s), name) for k in range(budget(config, algorithm)) for s in seeds]


def is_trial(config: dict, key: TrialKey) -> bool:
    """Whether ``key`` is one of the config's trial runs (a path asked for that the config does not make is not)."""
    tuned = any(
        key.dataset in config["experiments"][e]["datasets"]
        and key.partition in config["experiments"][e]["partitions"]
        and key.algorithm in experiment_methods(config, e)
        for e in tuned_experiments(config)
    )
    return tuned and 0 <= key.trial < budget(config, key.algorithm) and key.seed in settings(config)["seeds"]


def apply_values(run: dict, values: dict[str, Any]) -> dict:
    """A resolved run config with tuned values in place: lr at the top, the rest as algorithm parameters."""
    values = dict(values)
    out = dict(run, algorithm_params=dict(run["algorithm_params"]))
    if LR in values:
        out["lr"] = values.pop(LR)
    out["algorithm_params"].update(values)
    return out


def trial_run_config(config: dict, key: TrialKey) -> dict:
    """The run config of one trial: the default run's, with the trial's values, the tuning
    rounds, validation as the only scored part and the score's evaluation point only."""
    tuning = settings(config)
    base = grid.resolve_run_config(config, grid.RunKey(key.dataset, key.partition, key.algorithm, "default", key.seed, key.name))
    values = group_trials(config, key.dataset, key.partition, key.algorithm)[key.trial]
    return apply_values(base, values) | {
        "variant": key.variant,
        "rounds": int(tuning["rounds"]),
        "eval_splits": ["val"],
        "eval_points": [tuning["score"]["eval_point"]],
    }


def selection_path(config: dict, dataset: str, partition: str, algorithm: str) -> str:
    return SELECTION.format(name=grid.config_name(config), dataset=dataset, partition=partition, algorithm=algorithm)


def selection_paths(config: dict) -> list[str]:
    return [selection_path(config, *g) for g in groups(config)]


def apply_selection(run: dict, path: str | Path) -> dict:
    """A tuned final run's config: its resolved (default) config with the group's selected values."""
    selection = json.loads(Path(path).read_text())
    return apply_values(run, selection["values"])


def default_twin(key: grid.RunKey) -> grid.RunKey:
    """The default-hyperparameter run a tuned run is compared with."""
    from dataclasses import replace

    return replace(key, variant="default")


def planned_rounds(config: dict) -> dict[str, int]:
    """Run-rounds the tuning adds (a cost projection's unit): every trial run's rounds, and the
    rounds of the tuned experiments' final (tuned) runs and of their default twins."""
    tuned = [k for e in tuned_experiments(config) for k in grid.experiment_runs(config, e)]
    rounds = int(config["training"]["rounds"])
    return {
        "trial_runs": len(trial_runs(config)),
        "trial_rounds": len(trial_runs(config)) * int(settings(config).get("rounds", 0)),
        "tuned_runs": len(tuned),
        "tuned_rounds": len(tuned) * rounds,
        "default_rounds": len({default_twin(k) for k in tuned}) * rounds,
    }


def final_runs(config: dict) -> list[grid.RunKey]:
    """The tuned experiments' runs and their default twins: what tuned_vs_default compares."""
    tuned = [k for e in tuned_experiments(config) for k in grid.experiment_runs(config, e)]
    return sorted(set(tuned) | {default_twin(k) for k in tuned})


def wildcard_paths(config: dict) -> dict[str, str]:
    """The path patterns of the tuning rules (Snakemake wildcards in braces)."""
    keep = {k: "{" + k + "}" for k in ("dataset", "partition", "algorithm", "trial", "seed")}
    name = grid.config_name(config)
    return {
        "trial": TRIAL_DIR.format(name=name, **keep),
        "trial_checkpoints": TRIAL_CHECKPOINTS.format(name=name, **keep),
        "trial_log": TRIAL_LOG.format(name=name, **keep),
        "trial_benchmark": TRIAL_BENCHMARK.format(name=name, **keep),
        "selection": SELECTION.format(name=name, **{k: keep[k] for k in ("dataset", "partition", "algorithm")}),
    }


# --- selection ------------------------------------------------------------------------------


def validation_score(metrics: "pd.DataFrame", metric: str = "balanced_accuracy", eval_point: str = "local", last: int = 3) -> float:
    """The selection score of one trial run, from validation rows only.

    The mean over the run's last ``last`` evaluation rounds of the clients' mean validation
    ``metric`` at ``eval_point``. Balanced accuracy, because label-skewed clients hold
    imbalanced validation parts on which plain accuracy rewards predicting the majority class;
    a mean over the last evaluations rather than the best one, because the maximum of noisy
    evaluations favours unstable (large-step) settings and is optimistic; the per-client mean,
    as the protocol's headline figure. NaN when the run has no such rows. Test rows, if any,
    are never read.
    """
    val = metrics[(metrics["split"] == "val") & (metrics["metric"] == metric)]
    if "eval_point" in val.columns:
        val = val[val["eval_point"].fillna("local").replace("", "local") == eval_point]
    per_round = val.groupby("round")["value"].mean().sort_index()
    return float(per_round.iloc[-last:].mean()) if len(per_round) else math.nan


def select_trials(frame: "pd.DataFrame", group_columns: Iterable[str] = ("dataset", "partition", "algorithm")) -> "pd.Series":
    """``selected`` per row of a trial table: exactly one True per group, the highest ``val_score``
    with ties to the lower ``trial``; a trial without a score (diverged, no rows) never beats one
    that has one, and a group with no scored trial selects its lowest trial."""
    group_columns = list(group_columns)
    order = frame.assign(_missing=frame["val_score"].isna(), _neg=-frame["val_score"].fillna(0.0))
    order = order.sort_values(group_columns + ["_missing", "_neg", "trial"], kind="mergesort")
    chosen = order.groupby(group_columns, sort=False).head(1).index
    return frame.index.isin(chosen)


def group_selection(
    trials: list[dict[str, Any]],
    runs: list[tuple[int, int, "pd.DataFrame", str]],
    score: dict,
    group: tuple[str, str, str],
) -> dict:
    """The selection record of one group: every trial's values, per-seed and mean score, status,
    and the selected trial's values.

    ``runs``: (trial, seed, its metrics, its status from run.json) for every trial run of the group.
    """
    import pandas as pd

    records = []
    for k, values in enumerate(trials):
        mine = [(seed, m, status) for t, seed, m, status in runs if t == k]
        per_seed = {
            int(seed): (validation_score(m, score["metric"], score["eval_point"], score["last"]) if status == "completed" else math.nan)
            for seed, m, status in mine
        }
        scores = list(per_seed.values())
        complete = bool(scores) and not any(math.isnan(v) for v in scores)
        records.append(
            {
                "trial": k,
                "values": values,
                "val_score": float(sum(scores) / len(scores)) if complete else math.nan,
                "seed_scores": per_seed,
                "status": "completed" if complete else ",".join(sorted({s for _, _, s in mine})) or "missing",
            }
        )
    frame = pd.DataFrame({"trial": [r["trial"] for r in records], "val_score": [r["val_score"] for r in records]})
    frame[["dataset", "partition", "algorithm"]] = list(group)
    selected = int(frame.loc[select_trials(frame), "trial"].iloc[0])
    for r in records:
        r["selected"] = r["trial"] == selected
    dataset, partition, algorithm = group
    return {
        "dataset": dataset,
        "partition": partition,
        "algorithm": algorithm,
        "score": dict(score),
        "runs": len(runs),
        "test_rows": int(sum((m["split"] == "test").sum() for _, _, m, _ in runs)),  # 0: trials never score test
        "selected": selected,
        "values": trials[selected],
        "val_score": records[selected]["val_score"],
        "trials": records,
    }


def _json_safe(value: Any) -> Any:
    """NaN as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def write_group_selection(
    out: str | Path,
    trials: list[dict[str, Any]],
    trial_keys: list[list],
    metrics_paths: list[str],
    info_paths: list[str],
    score: dict,
) -> dict:
    """Read one group's trial runs, select, and write ``selected.json`` atomically.

    ``trial_keys[i]`` is ``[dataset, partition, algorithm, trial, seed]`` of ``metrics_paths[i]``.
    """
    import pandas as pd

    from fhbench.io import write_json

    runs = []
    for key, metrics_path, info_path in zip(trial_keys, metrics_paths, info_paths):
        status = json.loads(Path(info_path).read_text()).get("status", "completed")
        runs.append((int(key[3]), int(key[4]), pd.read_csv(metrics_path), status))
    group = tuple(trial_keys[0][:3])
    record = group_selection(trials, runs, score, group)  # type: ignore[arg-type]
    write_json(out, _json_safe(record))
    return record


def trials_frame(selections: dict[str, list[dict]]) -> "pd.DataFrame":
    """``tuning_trials.csv``: one row per (experiment, group, trial) with ``hp.<name>`` columns.

    ``selections``: experiment → the selection records (:func:`group_selection`) of its groups.
    """
    import pandas as pd

    rows = []
    for experiment, records in selections.items():
        for record in records:
            for trial in record["trials"]:
                score = trial["val_score"]
                rows.append(
                    {
                        "experiment": experiment,
                        "dataset": record["dataset"],
                        "partition": record["partition"],
                        "algorithm": record["algorithm"],
                        "trial": trial["trial"],
                        **{f"hp.{k}": v for k, v in trial["values"].items()},
                        "val_score": math.nan if score is None else score,
                        "status": trial["status"],
                        "selected": bool(trial["selected"]),
                    }
                )
    columns = ["experiment", "dataset", "partition", "algorithm", "trial"]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=columns + ["val_score", "status", "selected"])
    hp = sorted(c for c in frame.columns if c.startswith("hp."))
    return frame[columns + hp + ["val_score", "status", "selected"]]


# --- config checks --------------------------------------------------------------------------


def evaluations_per_trial(config: dict) -> int:
    """How many evaluation rounds a trial has (every ``eval_every`` rounds and the last)."""
    rounds, every = int(settings(config)["rounds"]), int(config["training"]["eval_every"])
    return rounds // every + (1 if rounds % every else 0)


def check_config(config: dict) -> None:
    """What the schema cannot say about ``tuning``; raises ``ConfigError`` naming the key.

    Experiments exist and have only the default variant; the variant name ``tuned`` is free;
    the budget is at least one trial and the same for every method; the score has enough
    evaluations; a configured range names a real hyperparameter and has values to draw, whose
    ends the algorithm's schema entry accepts. Without importing torch (every ``snakemake -n``
    runs this); :func:`check_spaces` checks what needs the algorithm classes.
    """
    if "tuned" in config.get("variants", {}):
        raise ConfigError(f"variants.{TUNED}: this name is reserved for tuned experiments' final runs; rename the variant")
    tuning = settings(config)
    if not tuning:
        return
    experiments = tuning.get("experiments", [])
    for exp in experiments:
        if exp not in config["experiments"]:
            raise ConfigError(f"tuning.experiments: {exp!r} is not defined under experiments")
        if config["experiments"][exp].get("kind", "main") != "main":
            raise ConfigError(
                f"experiments.{exp}.kind: a tuned experiment is of kind main (its table compares methods); tune a main-kind copy"
            )
        variants = config["experiments"][exp].get("variants", ["default"])
        if list(variants) != ["default"]:
            raise ConfigError(
                f"experiments.{exp}.variants: a tuned experiment runs the default variant only (has {variants}); tune a copy without variants"
            )
    methods = sorted({a for exp in experiments for a in experiment_methods(config, exp)})
    check_budget(tuning["trials"], methods)
    last = int(tuning["score"]["last"])
    if last > evaluations_per_trial(config):
        raise ConfigError(
            f"tuning.score.last: {last} evaluations, but a trial of {tuning['rounds']} rounds evaluated every "
            f"{config['training']['eval_every']} has {evaluations_per_trial(config)}; lower it or give more rounds"
        )
    spaces = tuning.get("spaces", {}) or {}
    from fhbench.algorithms import ALGORITHMS

    declared = grid.schema_hyperparameters()  # names without importing the algorithms (and torch)
    tuned_datasets = sorted({d for d, _, _ in groups(config)})
    for algorithm, entries in spaces.items():
        if algorithm not in ALGORITHMS or algorithm not in config["algorithms"]:
            raise ConfigError(f"tuning.spaces.{algorithm}: no such algorithm in this config; defined: {sorted(config['algorithms'])}")
        for name, entry in (entries or {}).items():
            known = [LR, *sorted(declared.get(algorithm, ()))]
            if algorithm in declared and name not in known:
                raise ConfigError(f"tuning.spaces.{algorithm}.{name}: {algorithm} has no hyperparameter {name!r}; it has {known}")
            if entry is not None:
                dim = from_config(f"tuning.spaces.{algorithm}.{name}", entry)
                configured = {LR: None, **config["algorithms"][algorithm]}
                for dataset in tuned_datasets if dim.relative else tuned_datasets[:1]:
                    check_drawable(config, algorithm, dataset, name, dim, f"tuning.spaces.{algorithm}.{name}", configured, construct=False)


def check_spaces(config: dict) -> None:
    """The search spaces the tuned methods are drawn from, as the trial list will read them:
    every declaration (a plugin's too) names real hyperparameters and valid ranges, something is
    left to tune, and both ends of every range (every choice) make an algorithm that its
    constructor accepts. Imports the tuned algorithms (torch): the workflow calls it when a
    ``tuning`` section is present, since building the trial list imports them anyway; the
    config checks (:func:`check_config`) stay without torch."""
    tuning = settings(config)
    if not tuning:
        return
    spaces = tuning.get("spaces", {}) or {}
    tuned_datasets = sorted({d for d, _, _ in groups(config)})
    for algorithm in sorted({a for _, _, a in groups(config)} | set(spaces)):
        known = [LR, *algorithm_class(algorithm).hyperparameters()]
        for name in spaces.get(algorithm) or {}:
            if name not in known:
                raise ConfigError(f"tuning.spaces.{algorithm}.{name}: {algorithm} has no hyperparameter {name!r}; it has {known}")
        check_declared_space(algorithm)
        space = search_space(config, algorithm)
        if not space:
            raise ConfigError(f"tuning.spaces.{algorithm}: nothing left to tune (every dimension set to null); tune at least lr")
        for name, dim in space.items():
            where = f"tuning.spaces.{algorithm}.{name}" if name in (spaces.get(algorithm) or {}) else declared_where(algorithm, name)
            # A relative range's ends depend on each dataset's configured value.
            for dataset in tuned_datasets if dim.relative else tuned_datasets[:1]:
                check_drawable(config, algorithm, dataset, name, dim, where, configured_values(config, dataset, algorithm))


def check_budget(trials: Any, methods: list[str]) -> None:
    """At least one trial, and the same number for every method (a mapping must list equal numbers)."""
    if isinstance(trials, dict):
        missing = [m for m in methods if m not in trials]
        if missing:
            raise ConfigError(f"tuning.trials: no budget for {missing}; give one integer, the same for every method")
        unknown = sorted(set(trials) - set(methods))
        if unknown:
            raise ConfigError(f"tuning.trials: {unknown} are not tuned by any tuned experiment; remove them")
        counts = {m: trials[m] for m in methods}
        if len(set(counts.values())) > 1:
            raise ConfigError(f"tuning.trials: unequal budgets {counts}; every method gets the same number of trials (give one integer)")
        values = list(counts.values())
    else:
        values = [trials]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"tuning.trials: a budget of {value!r} trials tunes nothing; give a whole number of at least 1")


def declared_where(algorithm: str, name: str) -> str:
    cls = algorithm_class(algorithm)
    return f"{cls.__module__}.{cls.__name__}.search_space.{name}"


def check_declared_space(algorithm: str) -> None:
    """An algorithm's own declaration (a plugin's too) names its hyperparameters and valid ranges."""
    cls = algorithm_class(algorithm)
    known = [LR, *cls.hyperparameters()]
    for name, dim in cls.search_space.items():
        if name not in known:
            raise ConfigError(f"{declared_where(algorithm, name)}: {name!r} is not a hyperparameter of {algorithm}; it has {known}")
        dim.check(declared_where(algorithm, name))


def check_drawable(
    config: dict, algorithm: str, dataset: str, name: str, dim: Dimension, where: str, configured: dict, construct: bool = True
) -> None:
    """Both ends of a range (every value of a choice) make a run config the algorithm accepts:
    its config schema entry, and with ``construct`` its constructor."""
    configured = {**configured, LR: config["datasets"][dataset]["lr"]}
    values = list(dim.choices) if dim.scale == "choice" else [dim.value(0.0, configured[name]), dim.value(1.0, configured[name])]
    for value in values:
        if name == LR:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{where}: draws lr = {value!r} for {dataset}; a learning rate must be a positive number")
            continue
        params = {k: v for k, v in configured.items() if k != LR} | {name: value}
        problem = algorithm_params_problem(algorithm, params, construct)
        if problem:
            raise ConfigError(f"{where}: draws {name} = {value!r}, which {algorithm} refuses ({problem}); narrow the range")


@functools.cache
def _algorithm_schemas() -> dict[str, dict]:
    import yaml

    from fhbench.schema import SCHEMA

    return yaml.safe_load(Path(SCHEMA).read_text())["properties"]["algorithms"]["properties"]


def algorithm_params_problem(algorithm: str, params: dict, construct: bool = True) -> str | None:
    """Why ``algorithm`` would refuse ``params`` (its config schema entry, then its constructor), or None."""
    import jsonschema

    entry = _algorithm_schemas().get(algorithm)
    if entry is not None:
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(entry).iter_errors(params))
        if error is not None:
            return error.message
    if not construct:
        return None
    try:
        algorithm_class(algorithm)(**params)
    except (TypeError, ValueError) as error:
        return str(error)
    return None


def search_space_markdown(algorithms: Iterable[str] | None = None) -> str:
    """The table of every algorithm's declared search space (docs/protocol.md §9 holds it; a test
    checks the two agree)."""
    from fhbench.algorithms import ALGORITHMS

    lines = ["| algorithm | hyperparameter | scale | range | why |", "|---|---|---|---|---|"]
    for algorithm in algorithms or ALGORITHMS:
        for name, dim in algorithm_class(algorithm).search_space.items():
            if dim.scale == "choice":
                shown = ", ".join(f"`{c}`" for c in dim.choices)
            else:
                shown = f"{dim.low:g} – {dim.high:g}" + (
                    " × the dataset's lr" if dim.relative and name == LR else " × configured" if dim.relative else ""
                )
            scale = f"{dim.scale} (integer)" if dim.integer else dim.scale
            lines.append(f"| {algorithm} | `{name}` | {scale} | {shown} | {dim.reason} |")
    return "\n".join(lines) + "\n"
