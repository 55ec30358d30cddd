from fhbench.logs import to_log_file
from fhbench.reporting.claims import write_claims

to_log_file(snakemake.log[0])
write_claims(
    snakemake.input.metrics,
    snakemake.params.experiments,
    csv_out=snakemake.output.csv,
    md_out=snakemake.output.md,
    figures_out=[snakemake.output.pdf, snakemake.output.png],
    info_paths=snakemake.input.infos,
)
