from fhbench.logs import to_log_file
from fhbench.partition import partition_prepared
from fhbench.reporting.priors import write_split_priors

to_log_file(snakemake.log[0])
partition_prepared(snakemake.input[0], snakemake.output.split, **snakemake.params.partition)
write_split_priors(snakemake.input[0], snakemake.output.split, snakemake.output.priors)
