# Tables (and later figures) computed from the tidy metrics of the runs.


rule accuracy_table:
    input:
        experiment_metrics,
    output:
        csv=report("results/tables/{experiment}_accuracy.csv", caption="../report/accuracy_table.rst", category="Tables"),
        md="results/tables/{experiment}_accuracy.md",
    log:
        "logs/accuracy_table/{experiment}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/accuracy_table.py"


rule dataset_table:
    input:
        prepared=dataset_table_prepared,
        splits=dataset_table_splits,
    output:
        csv=report("results/tables/datasets.csv", caption="../report/dataset_table.rst", category="Data"),
        md="results/tables/datasets.md",
        tex="results/tables/datasets.tex",
    log:
        "logs/dataset_table/datasets.log",
    params:
        pairs=lambda wc: grid.data_partitions(config),
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/dataset_table.py"


rule plot_split:
    input:
        prepared="resources/prepared/{dataset}",
        split="resources/partitions/{dataset}/{partition}.json",
    output:
        pdf=report("results/figures/split_{dataset}_{partition}.pdf", caption="../report/split_figure.rst", category="Data"),
        png="results/figures/split_{dataset}_{partition}.png",
    log:
        "logs/plot_split/{dataset}_{partition}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/plot_split.py"
rule efficiency_table:
    output:
        csv=report("results/tables/efficiency.csv", caption="../report/efficiency_table.rst", category="Tables"),
        md="results/tables/efficiency.md",
        tex="results/tables/efficiency.tex",
    log:
        "logs/efficiency_table/efficiency.log",
    params:
        # Counted from the real architectures' configs: no model files are inputs.
        config={key: config[key] for key in ("backbones", "datasets", "algorithms")},
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/efficiency_table.py"
