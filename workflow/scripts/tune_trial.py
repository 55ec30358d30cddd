from fhbench.logs import skip_failed_retry
from fhbench.worker import call

skip_failed_retry(snakemake.log[0], snakemake.input)  # a retry after bad input stops at once

# A tuning trial is an ordinary run that scores validation only (its params say so: fhbench.tuning).
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
