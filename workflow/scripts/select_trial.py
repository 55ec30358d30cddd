from fhbench.logs import to_log_file
from fhbench.tuning import write_group_selection

to_log_file(snakemake.log[0])
write_group_selection(
    snakemake.output[0],
    trials=snakemake.params.trials,
    trial_keys=snakemake.params.trial_keys,
    metrics_paths=list(snakemake.input.metrics),
    info_paths=list(snakemake.input.infos),
    score=snakemake.params.score,
)
