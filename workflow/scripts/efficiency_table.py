from fhbench.logs import to_log_file
from fhbench.reporting.efficiency import write_efficiency_table

to_log_file(snakemake.log[0])
write_efficiency_table(snakemake.params.config, snakemake.output.csv, snakemake.output.md, snakemake.output.tex)
