from fhbench.data import get_dataset
from fhbench.logs import to_log_file

to_log_file(snakemake.log[0])
get_dataset(snakemake.wildcards.dataset).prepare(snakemake.input[0], snakemake.output[0], **snakemake.params.options)
