from fhbench.logs import to_log_file
from fhbench.reporting.datasets import write_dataset_table

to_log_file(snakemake.log[0])
entries = [(d, p, prep, split) for (d, p), prep, split in zip(snakemake.params.pairs, snakemake.input.prepared, snakemake.input.splits)]
write_dataset_table(entries, snakemake.output.csv, snakemake.output.md, snakemake.output.tex)
