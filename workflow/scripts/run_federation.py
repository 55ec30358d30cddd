from fhbench.federation import run_federation
from fhbench.logs import to_log_file

to_log_file(snakemake.log[0])
run_federation(
    dict(snakemake.params.run, threads=snakemake.threads),
    prepared_dir=snakemake.input.data,
    split_path=snakemake.input.split,
    model_dir=snakemake.input.model,
    metrics_out=snakemake.output.metrics,
    checkpoint_dir=snakemake.params.checkpoints,
    run_info_out=snakemake.output.info,
)
