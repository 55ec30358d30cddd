from fhbench.worker import call

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
        mixing_out=snakemake.output.mixing,
    ),
    log=snakemake.log[0],
)
