from fhbench.logs import to_log_file
from fhbench.reporting.asymmetry import write_asymmetry_report

to_log_file(snakemake.log[0])
write_asymmetry_report(snakemake.input, snakemake.params.spec, snakemake.output.csv, snakemake.output.md, snakemake.output.section)
