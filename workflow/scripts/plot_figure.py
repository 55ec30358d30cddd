from fhbench.logs import to_log_file
from fhbench.reporting.figures import make_figure
from fhbench.reporting.tables import load_metrics

to_log_file(snakemake.log[0])
spec = snakemake.params.spec
make_figure(
    spec["kind"],
    load_metrics(snakemake.input),
    [snakemake.output.pdf, snakemake.output.png],
    title=spec["title"],
    alphas=snakemake.params.alphas,
    eval_point=spec["eval_point"],
    references=spec["references"],
)
