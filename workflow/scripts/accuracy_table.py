from fhbench.logs import to_log_file
from fhbench.reporting.tables import write_accuracy_table

to_log_file(snakemake.log[0])
write_accuracy_table(snakemake.input, snakemake.output.csv, snakemake.output.md, title=f"Experiment {snakemake.wildcards.experiment}")
