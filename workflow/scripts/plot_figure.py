from fhbench.logs import to_log_file
from fhbench.reporting.figures import make_figure
from fhbench.reporting.tables import load_metrics
from fhbench.reporting.worst_off import client_sizes

to_log_file(snakemake.log[0])
spec = snakemake.params.spec
infos = [path for path in snakemake.input if path.endswith(".json")]  # run.json: client sizes (figures.INFO_KINDS)
make_figure(
    spec["kind"],
    load_metrics([path for path in snakemake.input if not path.endswith(".json")]),
    [snakemake.output.pdf, snakemake.output.png],
    title=spec["title"],
    alphas=snakemake.params.alphas,
    eval_point=spec["eval_point"],
    references=spec["references"],
    sizes=client_sizes(infos),
)
