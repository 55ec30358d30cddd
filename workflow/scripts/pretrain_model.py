from fhbench.logs import skip_failed_retry
from fhbench.worker import call

skip_failed_retry(snakemake.log[0], snakemake.input)  # a retry after bad input stops at once
# In the workflow's warm worker when one runs (execution.warm_worker), else in this process.
call(
    "fhbench.pretrain:pretrain_backbone",
    dict(base_model_dir=snakemake.input.base, public_dir=snakemake.input.public, out_dir=snakemake.output[0], **snakemake.params.settings),
    log=snakemake.log[0],
)
