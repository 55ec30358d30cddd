from fhbench.logs import to_log_file
from fhbench.reporting.datasets import plot_split

to_log_file(snakemake.log[0])
title = f"{snakemake.wildcards.dataset}, {snakemake.wildcards.partition} split: samples per client and class"
plot_split(snakemake.input.prepared, snakemake.input.split, snakemake.output.pdf, snakemake.output.png, title=title)
