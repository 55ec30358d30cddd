# Client splits: one per (dataset, partition), shared by every algorithm and seed.


rule make_partition:
    input:
        "resources/prepared/{dataset}",
    output:
        "resources/partitions/{dataset}/{partition}.json",
    log:
        "logs/make_partition/{dataset}/{partition}.log",
    params:
        partition=partition_params,
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/make_partition.py"
