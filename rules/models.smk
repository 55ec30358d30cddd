# Model weights: fetched once on a machine with internet, loaded offline by the runs. Keyed by
# architecture, hub id and tiny spec (fhbench.grid.model_id): a tiny twin never stands in for real weights.


rule fetch_model:
    output:
        directory(PATHS["model"]),
    log:
        f"{PATHS['logs']}/fetch_model/{{architecture}}/{{model}}.log",
    wildcard_constraints:
        model=r"(tiny|hub)-[0-9a-f]{10}",
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


# A demo backbone pretrained (full fine-tuning, a few seconds) on a separate draw of its dataset's
# twin (datasets.<name>.pretrain, fhbench.pretrain), written in the format fetch_model writes. Its
# id hashes the base model, the public data and the training settings (fhbench.grid.pretrained_id).
rule pretrain_model:
    input:
        unpack(pretrain_inputs),
    output:
        directory(PATHS["model"]),
    log:
        f"{PATHS['logs']}/pretrain_model/{{architecture}}/{{model}}.log",
    benchmark:
        f"{PATHS['benchmarks']}/pretrain_model/{{architecture}}/{{model}}.tsv"
    wildcard_constraints:
        model=r"pre-[0-9a-f]{10}",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=rule_resource("pretrain_model", "mem_mb"),
        runtime=rule_resource("pretrain_model", "runtime"),
    params:
        settings=pretrain_settings,
    script:
        "../workflow/scripts/pretrain_model.py"
