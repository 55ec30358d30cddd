from fhbench.logs import skip_failed_retry, to_log_file
from fhbench.models import get_backbone

skip_failed_retry(snakemake.log[0], snakemake.input)  # a retry after bad input stops at once
to_log_file(snakemake.log[0])
settings = snakemake.params.settings
get_backbone(settings["architecture"]).write_model(snakemake.output[0], settings["hf_id"], settings["tiny"])
