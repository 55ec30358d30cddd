from fhbench.logs import to_log_file
from fhbench.models import get_backbone

to_log_file(snakemake.log[0])
backbone = get_backbone(snakemake.params.architecture)
if snakemake.params.tiny:
    backbone.create_tiny(snakemake.output[0], snakemake.params.tiny)
else:
    backbone.fetch_pretrained(snakemake.params.hf_id, snakemake.output[0])
