# Client splits: one per (prepared data, resolved partition settings), shared by every algorithm
# and seed, and by every config that asks for the same split of the same data.


rule make_partition:
    input:
        data_input(prepared_input),
    output:
        split=PATHS["split"],
        priors=PATHS["split_priors"],
    log:
        f"{PATHS['logs']}/make_partition/{{dataset}}/{{prep}}/{{split}}.log",
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("make_partition", "mem_mb"),
        runtime=rule_resource("make_partition", "runtime"),
    params:
        partition=partition_params,
    script:
        "../workflow/scripts/make_partition.py"
