from fhbench.logs import skip_failed_retry, to_log_file
from fhbench.models import get_backbone

skip_failed_retry(snakemake.log[0], snakemake.input)  # a retry after bad input stops at once
to_log_file(snakemake.log[0])
backbone = get_backbone(snakemake.params.architecture)
if snakemake.params.tiny:
    backbone.create_tiny(snakemake.output[0], snakemake.params.tiny)
else:
    backbone.fetch_pretrained(snakemake.params.hf_id, snakemake.output[0])
