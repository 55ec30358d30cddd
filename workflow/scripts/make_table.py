from fhbench.logs import to_log_file
from fhbench.reporting.report import EXPERIMENT_KINDS
from fhbench.reporting.tables import write_accuracy_table

to_log_file(snakemake.log[0])
spec = snakemake.params.spec
write_accuracy_table(
    snakemake.input.metrics,
    csv_out=snakemake.output.csv,
    md_out=snakemake.output.md,
    tex_out=snakemake.output.tex,
    html_out=snakemake.output.html,
    title=spec["title"],
    metric=snakemake.wildcards.metric,
    spec=spec,
    averages=EXPERIMENT_KINDS[spec["kind"]].averages,
    priors=snakemake.params.priors,
)
