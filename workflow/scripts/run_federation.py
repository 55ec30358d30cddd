from fhbench.grid import RunKey, tracking_dir
from fhbench.worker import call

w = snakemake.wildcards

# In the workflow's warm worker when one runs (execution.warm_worker), else in this process.
call(
    "fhbench.federation:run_federation",
    dict(
        config=dict(snakemake.params.run, threads=snakemake.threads),
        prepared_dir=snakemake.input.data,
        split_path=snakemake.input.split,
        model_dir=snakemake.input.model,
        metrics_out=snakemake.output.metrics,
        checkpoint_dir=snakemake.params.checkpoints,
        run_info_out=snakemake.output.info,
        # From the config, not params: switching tracking on must not rerun finished runs.
        tracking_dir=tracking_dir(snakemake.config, RunKey(w.dataset, w.partition, w.algorithm, w.variant, int(w.seed))),
    ),
    log=snakemake.log[0],
)
