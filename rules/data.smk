# Raw data (download or demo twin) and the prepared arrays + metadata.


rule acquire_data:
    output:
        directory("resources/raw/{dataset}"),
    log:
        "logs/acquire_data/{dataset}.log",
    params:
        source=lambda wc: config["datasets"][wc.dataset]["source"],
        base_url=lambda wc: config["datasets"][wc.dataset]["base_url"],
        demo=lambda wc: config["datasets"][wc.dataset]["demo"],
        part_dir="resources/downloads/{dataset}",
    localrule: True
    retries: 2
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/acquire_data.py"


rule prepare_data:
    input:
        # ancient: a `dvc pull` or `dvc checkout` rewrites files in no particular order, and
        # their new timestamps must not make Snakemake redo the work DVC restored. A changed
        # source still reruns this step through the `origin` param.
        ancient("resources/raw/{dataset}"),
    output:
        directory("resources/prepared/{dataset}"),
    params:
        options=lambda wc: config["datasets"][wc.dataset]["prepare"],
    log:
        "logs/prepare_data/{dataset}.log",
    params:
        origin=data_origin,
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/prepare_data.py"


# Every configured dataset's raw, prepared and partition data: the data dvc.yaml tracks.
rule all_data:
    input:
        data_targets(),
