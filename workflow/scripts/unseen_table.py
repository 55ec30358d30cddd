from fhbench.logs import to_log_file
from fhbench.reporting.unseen import write_unseen_table

to_log_file(snakemake.log[0])
write_unseen_table(snakemake.input, snakemake.params.specs, csv_out=snakemake.output.csv, md_out=snakemake.output.md)
