from fhbench.logs import skip_failed_retry
from fhbench.worker import call

skip_failed_retry(snakemake.log[0], snakemake.input)  # a retry after bad input stops at once
settings = snakemake.params.settings
# In the workflow's warm worker when one runs (execution.warm_worker: transformers is imported
# there already), else in this process.
call(
    "fhbench.models:write_model",
    dict(architecture=settings["architecture"], out_dir=snakemake.output[0], hf_id=settings["hf_id"], tiny=settings["tiny"]),
    log=snakemake.log[0],
)
