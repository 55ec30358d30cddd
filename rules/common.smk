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
    metric="accuracy|balanced_accuracy|macro_f1",
    figure="|".join(config.get("figures", {})) or "(?!)",
    seed=r"\d+",


def all_targets():
    return [key.metrics for key in grid.all_runs(config)] + grid.final_targets(config) + grid.dataset_report_targets(config)


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
    if not any(job.rule.name == "run_federation" for job in workflow.dag.needrun_jobs()):
        return  # data-only or report-only invocations (dvc repro, one table) need no torch
    import fhbench.worker

    worker = fhbench.worker.start(log="logs/warm_worker.log")
    os.environ[fhbench.worker.WORKER_ENV] = worker.address
    WARM_WORKERS.append(worker)


def stop_warm_worker():
    while WARM_WORKERS:
        WARM_WORKERS.pop().stop()


def print_outputs(targets):
    # The headline tables that exist: a run may have asked for other targets (e.g. dvc.yaml's data).
    tables = [t for t in targets if t.startswith("results/tables/main_") and t.endswith(".md") and os.path.exists(t)]
    for table in tables:
        print(f"\nfhbench: wrote {table}\n")
        print(open(table).read())
    figures = sorted({t.rsplit(".", 1)[0] for t in targets if t.startswith("results/figures/")})
    print(f"fhbench: {len(grid.table_targets(config))} table files under results/tables/, {len(figures)} figures under results/figures/")
    if "results/REPORT.md" in targets:
        print("fhbench: the reproduction report is results/REPORT.md; `snakemake --report report.html` bundles tables and figures")
