from fhbench.data import acquire
from fhbench.logs import skip_failed_retry, to_log_file

skip_failed_retry(snakemake.log[0], snakemake.input)  # a retry after bad input stops at once
to_log_file(snakemake.log[0])
settings = snakemake.params.settings
acquire(
    snakemake.wildcards.dataset,
    snakemake.output[0],
    source=settings["source"],
    base_url=settings["base_url"],
    demo_options=settings["demo"],
    part_dir=snakemake.params.part_dir,
)
