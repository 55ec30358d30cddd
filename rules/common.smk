# Config validation, wildcard constraints and every input function of the workflow.
import os

import fhbench.grid as grid
from snakemake.utils import validate


validate(config, workflow.source_path("../config/schemas/config.schema.yaml"))
try:
    grid.check_references(config)
except grid.ConfigError as error:
    raise WorkflowError(f"Error validating config: {error}")


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    partition="|".join(map(re.escape, config["partitions"])),
    algorithm="|".join(config["algorithms"]),
    variant="|".join(map(re.escape, config["variants"])),
    backbone="|".join(config["backbones"]),
    experiment="|".join(config["experiments"]),
    seed=r"\d+",


def all_targets():
    return [key.metrics for key in grid.all_runs(config)] + grid.table_targets(config) + grid.dataset_report_targets(config)


def data_targets():
    return grid.data_targets(config)


def dataset_table_prepared(wildcards):
    return [f"resources/prepared/{d}" for d, _ in grid.data_partitions(config)]


def dataset_table_splits(wildcards):
    return [f"resources/partitions/{d}/{p}.json" for d, p in grid.data_partitions(config)]


def data_origin(wildcards):
    """What a dataset's raw data is made from. Passed as a param to the steps downstream of
    acquire_data so that, with their inputs marked ancient (for DVC checkouts, see dvc.yaml),
    a change of source still reruns them through Snakemake's params trigger."""
    ds = config["datasets"][wildcards.dataset]
    return {"source": ds["source"], "base_url": ds["base_url"], "demo": ds["demo"] if ds["source"] == "demo" else None}


def run_key(wildcards):
    return grid.RunKey(wildcards.dataset, wildcards.partition, wildcards.algorithm, wildcards.variant, int(wildcards.seed))


def run_params(wildcards):
    return grid.resolve_run_config(config, run_key(wildcards))


def model_dir(wildcards):
    return f"resources/models/{config['datasets'][wildcards.dataset]['backbone']}"


def partition_params(wildcards):
    return grid.partition_params(config, wildcards.dataset, wildcards.partition)


def experiment_metrics(wildcards):
    return [key.metrics for key in grid.experiment_runs(config, wildcards.experiment)]


def train_resource(name):
    return config["resources"]["run_federation"][name]


def print_outputs(targets):
    # Only tables that exist: a run may have asked for other targets (e.g. dvc.yaml's data).
    tables = [t for t in targets if t.endswith(".md") and os.path.exists(t)]
    for table in tables:
        print(f"\nfhbench: wrote {table}\n")
        print(open(table).read())
