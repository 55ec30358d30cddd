from fhbench.logs import to_log_file
from fhbench.reporting.tuning import write_tuning_report

to_log_file(snakemake.log[0])
out = snakemake.output
write_tuning_report(
    snakemake.params.spec,
    selection_paths=snakemake.input.selections,
    trial_info_paths=snakemake.input.trial_infos,
    final_metrics_paths=snakemake.input.metrics,
    final_info_paths=snakemake.input.infos,
    outputs={k: getattr(out, k) for k in ("trials", "vs_csv", "vs_md", "compute_csv", "compute_md", "section")},
    figures=snakemake.params.figures,
)
