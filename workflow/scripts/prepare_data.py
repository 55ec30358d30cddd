from fhbench.logs import to_log_file
from fhbench.validate import prepare_checked

to_log_file(snakemake.log[0])
prepare_checked(snakemake.wildcards.dataset, snakemake.input[0], snakemake.output[0], snakemake.params.options)
