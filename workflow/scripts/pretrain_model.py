from fhbench.logs import to_log_file
from fhbench.pretrain import pretrain_backbone

to_log_file(snakemake.log[0])
pretrain_backbone(
    base_model_dir=snakemake.input.base, public_dir=snakemake.input.public, out_dir=snakemake.output[0], **snakemake.params.settings
)
