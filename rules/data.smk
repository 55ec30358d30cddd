# Raw data (download or demo twin) and the prepared arrays + metadata, each under the id of what
# it is made from (fhbench.grid.origin_id / prep_id): a change of source, mirror, demo spec or
# preparation option is a new path, so it is made anew, and configs with the same data share it.


rule acquire_data:
    output:
        directory(PATHS["raw"]),
    log:
        f"{PATHS['logs']}/acquire_data/{{dataset}}/{{origin}}.log",
    retries: 2
    localrule: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("acquire_data", "mem_mb"),
        runtime=rule_resource("acquire_data", "runtime"),
    params:
        settings=acquire_settings,
        part_dir=PATHS["downloads"],
    script:
        "../workflow/scripts/acquire_data.py"


rule prepare_data:
    input:
        # A DVC checkout must not redo a preparation it restored (see data_input).
        data_input(prepare_input),
    output:
        directory(PATHS["prepared"]),
    log:
        f"{PATHS['logs']}/prepare_data/{{dataset}}/{{prep}}.log",
    benchmark:
        f"{PATHS['benchmarks']}/prepare_data/{{dataset}}/{{prep}}.tsv"
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("prepare_data", "mem_mb"),
        runtime=rule_resource("prepare_data", "runtime"),
    params:
        options=lambda wc: config["datasets"][wc.dataset]["prepare"],
    script:
        "../workflow/scripts/prepare_data.py"


# Every configured dataset's raw, prepared and partition data: the data dvc.yaml tracks.
rule all_data:
    input:
        data_targets(),
