# Config validation, wildcard constraints and every input function of the workflow.
import os

import fhbench.config
import fhbench.errors
import fhbench.grid as grid
import fhbench.tuning as tuning
from snakemake.utils import validate

# Snakemake's YAML reader keeps the last of two equal keys: read the files again, refusing duplicates.
try:
    for _path in workflow.configfiles:
        fhbench.config.load_yaml(_path)
except fhbench.errors.InputError as error:
    raise WorkflowError(f"Error validating config: {error}")
# --config values inside lists and mappings arrive as strings (seeds=[0] -> ['0']).
fhbench.config.retype_overrides(config, workflow.config_settings.config)
validate(config, workflow.source_path("../config/schemas/config.schema.yaml"))
try:
    grid.check_references(config)
    tuning.check_config(config)
    tuning.check_spaces(config)  # imports the tuned algorithms (torch) only where something is tuned
except grid.ConfigError as error:
    raise WorkflowError(f"Error validating config: {error}")


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    partition="|".join(map(re.escape, config["partitions"])),
    algorithm="|".join(config["algorithms"]),
    variant="|".join(map(re.escape, [*config["variants"], grid.TUNED])),
    backbone="|".join(config["backbones"]),
    experiment="|".join(config["experiments"]),
    metric="accuracy|balanced_accuracy|macro_f1",
    figure="|".join(config.get("figures", {})) or "(?!)",
    seed=r"\d+",
    trial=r"\d+",


# Every path below comes from fhbench.grid: results and logs under the config's name, data under
# ids of what it is made from (see README, "Where results and data live").
PATHS = grid.wildcard_paths(config)


wildcard_constraints:
    origin=grid.DATA_ID,
    prep=grid.DATA_ID,
    split=grid.DATA_ID,
    model=grid.DATA_ID,
    architecture="|".join(sorted({bb["architecture"] for bb in config["backbones"].values()})),


def all_targets():
    return (
        [key.metrics for key in grid.all_runs(config)] + grid.final_targets(config) + grid.dataset_report_targets(config) + tuning_targets()
    )


def data_targets():
    return grid.data_targets(config)


def dataset_table_prepared(wildcards):
    return [as_data(grid.prepared_dir(config, d)) for d, _ in grid.data_partitions(config)]


def dataset_table_splits(wildcards):
    return [grid.split_path(config, d, p) for d, p in grid.data_partitions(config)]


def checked(function):
    """An input/params function whose config errors read as one line, not a traceback."""

    def wrapped(wildcards):
        try:
            return function(wildcards)
        except grid.ConfigError as error:
            raise WorkflowError(str(error))

    return wrapped


@checked
def acquire_settings(wildcards):
    public = grid.check_data_id(config, wildcards.dataset, "origin", wildcards.origin)
    if public:  # the separate draw a demo backbone is pretrained on
        return grid.origin_spec(config, wildcards.dataset, public=True)
    return grid.origin_spec(config, wildcards.dataset) | {"base_url": config["datasets"][wildcards.dataset]["base_url"]}


@checked
def prepare_input(wildcards):
    """The raw data this prepared folder is made from (its id names the origin)."""
    public = grid.check_data_id(config, wildcards.dataset, "prep", wildcards.prep)
    return grid.raw_dir(config, wildcards.dataset, public)


def data_input(function):
    """An input function for a data folder that takes a copy restored by DVC as current.

    Snakemake times a directory by its `.snakemake_timestamp` marker, which DVC leaves out
    (.dvcignore), so rewriting the files of data Snakemake made here changes nothing. A folder
    DVC restored has no marker and the restore's timestamps, in no order: it is marked
    ancient (fhbench.grid.restored_data). Only there, because ancient() also stops a rerun
    upstream from reaching this step; data made here reaches its splits and runs when redone.
    Safe because the path's id names what the data is made from.
    """

    def wrapped(wildcards):
        return as_data(function(wildcards))

    return wrapped


def as_data(path):
    return ancient(path) if grid.restored_data(path) else path


def run_key(wildcards):
    return grid.RunKey(
        wildcards.dataset, wildcards.partition, wildcards.algorithm, wildcards.variant, int(wildcards.seed), grid.config_name(config)
    )


def run_params(wildcards):
    return grid.resolve_run_config(config, run_key(wildcards))


def run_data(wildcards):
    return grid.prepared_dir(config, wildcards.dataset)


def prepared_input(wildcards):
    return grid.PREPARED.format(dataset=wildcards.dataset, prep=wildcards.prep)


def run_split(wildcards):
    return grid.split_path(config, wildcards.dataset, wildcards.partition)


def model_dir(wildcards):
    return grid.run_model_dir(config, wildcards.dataset)


def pretrained_dataset(wildcards):
    return grid.find_by_id(config, "pretrained", wildcards.model)


@checked
def pretrain_inputs(wildcards):
    dataset = pretrained_dataset(wildcards)
    return {
        "base": grid.model_dir(config, config["datasets"][dataset]["backbone"]),
        "public": as_data(grid.prepared_dir(config, dataset, public=True)),
    }


@checked
def pretrain_settings(wildcards):
    return grid.pretrain_settings(config, pretrained_dataset(wildcards))


@checked
def model_settings(wildcards):
    return grid.model_spec(config, grid.find_by_id(config, "model", wildcards.model))


@checked
def partition_params(wildcards):
    return grid.partition_params(config, wildcards.dataset, grid.find_by_id(config, "split", wildcards.split, dataset=wildcards.dataset))


def split_inputs(wildcards):
    return {"prepared": as_data(run_data(wildcards)), "split": run_split(wildcards)}


def rule_resource(rule, name):
    return grid.rule_resources(config, rule)[name]


def experiment_metrics(wildcards):
    return [key.metrics for key in grid.experiment_runs(config, wildcards.experiment)]


def report_run_infos(wildcards):
    """run.json of every run: REPORT.md's provenance and cost come from them."""
    return [key.info for key in grid.all_runs(config)]


def experiment_specs():
    """What the reporting code knows of every experiment (fhbench.grid.experiment_spec)."""
    return {name: grid.experiment_spec(config, name) for name in config["experiments"]}


def claims_inputs(wildcards):
    """Metrics and run.json of the runs the paper's claims read (fhbench.reporting.claims), and only those."""
    import fhbench.reporting.claims

    runs = [grid.RunKey(*run, grid.config_name(config)) for run in fhbench.reporting.claims.needed_runs(experiment_specs())]
    return {"metrics": [key.metrics for key in runs], "infos": [key.info for key in runs]}


def figure_metrics(wildcards):
    return grid.figure_inputs(config, wildcards.figure)


def report_figures():
    """Figures REPORT.md shows: the configured ones (PNG and PDF). Rules that draw more figures
    (split distributions) add their targets here so the report embeds them too."""
    return grid.figure_targets(config)


def train_resource(name):
    return config["resources"]["run_federation"][name]


WARM_WORKERS = []


def start_warm_worker():
    """execution.warm_worker: one process with torch and transformers imported forks every run job's
    work (fhbench.worker), saving each job ~8 s of imports. Local execution only: a cluster job
    must do its work inside its own allocation (and jobs spawned there run without hooks)."""
    if not config.get("execution", {}).get("warm_worker", False) or not workflow.local_exec:
        return
    if not any(job.rule.name in ("run_federation", "tune_trial", "pretrain_model") for job in workflow.dag.needrun_jobs()):
        return  # data-only or report-only invocations (dvc repro, one table) need no torch
    import fhbench.worker

    worker = fhbench.worker.start(log=f"{grid.logs_dir(config)}/warm_worker.log")
    os.environ[fhbench.worker.WORKER_ENV] = worker.address
    WARM_WORKERS.append(worker)


def stop_warm_worker():
    while WARM_WORKERS:
        WARM_WORKERS.pop().stop()


def print_outputs(targets):
    # The headline tables that exist: a run may have asked for other targets (e.g. dvc.yaml's data).
    tables_dir, figures_dir, report = grid.tables_dir(config), grid.figures_dir(config), grid.report_path(config)
    tables = [t for t in targets if t.startswith(f"{tables_dir}/main_") and t.endswith(".md") and os.path.exists(t)]
    for table in tables:
        print(f"\nfhbench: wrote {table}\n")
        print(open(table).read())
    print_summary()


def print_summary():
    """Runs done, diverged, failed; where tables, figures and report are (fhbench.status). Also after a failure."""
    import fhbench.status

    config_path = workflow.configfiles[-1] if workflow.configfiles else None
    print(fhbench.status.workflow_summary(config, ".", config_path))


# Tuning (fhbench.tuning): trial runs, one selection per (dataset, partition, algorithm), and the
# tuned experiments' final runs, which read their group's selection when they start.
TUNING_PATHS = tuning.wildcard_paths(config)


def trial_key(wildcards):
    return tuning.TrialKey(
        wildcards.dataset,
        wildcards.partition,
        wildcards.algorithm,
        int(wildcards.trial),
        int(wildcards.seed),
        grid.config_name(config),
    )


@checked
def trial_params(wildcards):
    key = trial_key(wildcards)
    if not tuning.is_trial(config, key):
        raise grid.ConfigError(f"{key.directory}: not a trial of this config's tuning")
    return tuning.trial_run_config(config, key)


def tuned_selection(wildcards):
    """A tuned run's input: its group's selection (nothing for other variants)."""
    if wildcards.variant != grid.TUNED:
        return []
    return tuning.selection_path(config, wildcards.dataset, wildcards.partition, wildcards.algorithm)


def group_trials(wildcards):
    return tuning.group_trial_runs(config, wildcards.dataset, wildcards.partition, wildcards.algorithm)


def tuning_targets():
    import fhbench.reporting.tuning

    return fhbench.reporting.tuning.report_targets(config) if tuning.settings(config) else []


def tuning_figures():
    """Per tuned algorithm: its sensitivity figure (PNG, PDF)."""
    import fhbench.reporting.tuning

    return fhbench.reporting.tuning.sensitivity_paths(config)


def tuning_section():
    import fhbench.reporting.tuning

    return fhbench.reporting.tuning.section_path(config)


def tuning_spec():
    import fhbench.reporting.tuning

    return fhbench.reporting.tuning.report_spec(config) if tuning.settings(config) else {}


def report_sections():
    """Markdown files REPORT.md includes after its figures (the tuning section)."""
    return [tuning_section()] if tuning.settings(config) else []
