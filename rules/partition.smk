# Client splits: one per (dataset, partition), shared by every algorithm and seed.


rule make_partition:
    input:
        # ancient: see prepare_data (DVC checkouts); the origin param keeps source changes visible.
        ancient("resources/prepared/{dataset}"),
    output:
        "resources/partitions/{dataset}/{partition}.json",
    log:
        "logs/make_partition/{dataset}/{partition}.log",
    params:
        partition=partition_params,
        origin=data_origin,
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/make_partition.py"
