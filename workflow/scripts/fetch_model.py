from fhbench.logs import skip_failed_retry, to_log_file
from fhbench.models import get_backbone

skip_failed_retry(snakemake.log[0], snakemake.input)  # a retry after bad input stops at once
to_log_file(snakemake.log[0])
settings = snakemake.params.settings
backbone = get_backbone(settings["architecture"])
if settings["tiny"]:
    backbone.create_tiny(snakemake.output[0], settings["tiny"])
else:
    backbone.fetch_pretrained(settings["hf_id"], snakemake.output[0])
