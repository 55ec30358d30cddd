from fhbench.logs import to_log_file
from fhbench.reporting.priors import write_priors

to_log_file(snakemake.log[0])
write_priors(snakemake.output[0], snakemake.params.sources)
