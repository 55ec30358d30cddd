from fhbench.grid import RunKey, config_name, tracking_dir
from fhbench.logs import skip_failed_retry
from fhbench.tuning import apply_selection
from fhbench.worker import call

skip_failed_retry(snakemake.log[0], snakemake.input)  # a retry after bad input stops at once
w = snakemake.wildcards
run = dict(snakemake.params.run, threads=snakemake.threads)
if snakemake.input.get("selection"):  # a tuned run: the values its group's trials selected (fhbench.tuning)
    run = apply_selection(run, snakemake.input.selection)
# A tuning trial (rule tune_trial: no variant wildcard; its params score validation only) is not tracked.
key = (
    RunKey(w.dataset, w.partition, w.algorithm, w.variant, int(w.seed), name=config_name(snakemake.config))
    if hasattr(w, "variant")
    else None
)

# In the workflow's warm worker when one runs (execution.warm_worker), else in this process.
call(
    "fhbench.federation:run_federation",
    dict(
        config=run,
        prepared_dir=snakemake.input.data,
        split_path=snakemake.input.split,
        model_dir=snakemake.input.model,
        metrics_out=snakemake.output.metrics,
        checkpoint_dir=snakemake.params.checkpoints,
        run_info_out=snakemake.output.info,
        # From the config, not params: switching tracking on must not rerun finished runs.
        tracking_dir=tracking_dir(snakemake.config, key) if key else None,
        mixing_out=snakemake.output.mixing,
        diagnostics_out=snakemake.output.diagnostics,
    ),
    log=snakemake.log[0],
)
