# Model weights: fetched once on a machine with internet, loaded offline by the runs. Keyed by
# architecture, hub id and tiny spec (fhbench.grid.model_id): a tiny twin never stands in for real weights.


rule fetch_model:
    output:
        directory(PATHS["model"]),
    log:
        f"{PATHS['logs']}/fetch_model/{{architecture}}/{{model}}.log",
    retries: 2
    localrule: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("fetch_model", "mem_mb"),
        runtime=rule_resource("fetch_model", "runtime"),
    params:
        settings=model_settings,
    script:
        "../workflow/scripts/fetch_model.py"
