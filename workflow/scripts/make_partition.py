from fhbench.logs import to_log_file
from fhbench.partition import partition_prepared

to_log_file(snakemake.log[0])
partition_prepared(snakemake.input[0], snakemake.output[0], **snakemake.params.partition)
