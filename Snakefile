# fhbench: download → prepare → partition → federated runs → tables.
# Run the paper grid:    snakemake --cores 8 all
# Run the offline demo:  snakemake all --cores 2 --configfile config/demo.yaml
from snakemake.utils import min_version

min_version("9.0")


# config/config.yaml is the default config. A --configfile replaces it rather than being merged
# into it, so a demo or ablation YAML is the whole truth for its run; --config KEY=VALUE is laid
# over whichever config is in force (the default or the --configfile), as Snakemake users expect.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/partition.smk"
include: "rules/train.smk"
include: "rules/report.smk"
include: "rules/tuning.smk"


rule all:
    default_target: True
    input:
        all_targets(),


onstart:
    start_warm_worker()


onsuccess:
    stop_warm_worker()
    print_outputs(all_targets())


onerror:
    stop_warm_worker()
    print_summary()
