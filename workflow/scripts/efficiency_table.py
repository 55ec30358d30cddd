from fhbench.worker import call

# In the workflow's warm worker when one runs (it has transformers imported, which counting the
# backbones' parameters needs), else in this process.
call(
    "fhbench.reporting.efficiency:write_efficiency_table",
    dict(config=snakemake.params.config, csv_out=snakemake.output.csv, md_out=snakemake.output.md, tex_out=snakemake.output.tex),
    log=snakemake.log[0],
)
