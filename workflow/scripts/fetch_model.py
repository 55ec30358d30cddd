from fhbench.logs import to_log_file
from fhbench.models import get_backbone

to_log_file(snakemake.log[0])
settings = snakemake.params.settings
backbone = get_backbone(settings["architecture"])
if settings["tiny"]:
    backbone.create_tiny(snakemake.output[0], settings["tiny"])
else:
    backbone.fetch_pretrained(settings["hf_id"], snakemake.output[0])
