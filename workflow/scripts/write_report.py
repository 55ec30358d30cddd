import os

from fhbench.logs import to_log_file
from fhbench.reporting.report import write_report

to_log_file(snakemake.log[0])
out_dir = os.path.dirname(snakemake.output[0])
# Figures made by other rules (split distributions) that are not configured under figures:.
configured = set(snakemake.params.configured_figures)
extra = [os.path.relpath(p, out_dir) for p in snakemake.input.figures if p.endswith(".png") and p not in configured]
write_report(
    snakemake.output[0],
    snakemake.input.metrics,
    snakemake.input.deviations,
    mixing_paths=snakemake.input.mixing,
    experiments=snakemake.params.experiments,
    figures=snakemake.params.figures,
    alphas=snakemake.params.alphas,
    headline=snakemake.params.headline,
    extra_figures=extra,
    run_infos=snakemake.input.infos,
    config_name=snakemake.params.name,
    demo=snakemake.params.demo,
    claims_path=snakemake.input.claims,
    sections=snakemake.input.sections,
    priors_path=snakemake.input.priors,
)
