# Tables, figures and REPORT.md, each computed from the tidy metrics of the runs it needs.
# Every output is a file target: `snakemake results/figures/<name>.pdf` runs only its experiment.


rule make_table:
    input:
        experiment_metrics,
    output:
        csv="results/tables/{experiment}_{metric}.csv",
        md="results/tables/{experiment}_{metric}.md",
        tex="results/tables/{experiment}_{metric}.tex",
        html=report(
            "results/tables/{experiment}_{metric}.html",
            caption="../report/table.rst",
            category="Tables",
            subcategory="{metric}",
            labels={"experiment": "{experiment}", "metric": "{metric}"},
        ),
    log:
        "logs/make_table/{experiment}_{metric}.log",
    params:
        spec=lambda wc: grid.experiment_spec(config, wc.experiment),
    localrule: True
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/make_table.py"


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


rule plot_figure:
    input:
        figure_metrics,
    output:
        pdf="results/figures/{figure}.pdf",
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        "logs/plot_figure/{figure}.log",
    params:
        spec=lambda wc: grid.figure_spec(config, wc.figure),
        alphas=grid.partition_alphas(config),
    localrule: True
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/plot_figure.py"


rule write_report:
    input:
        metrics=lambda wc: [key.metrics for key in grid.all_runs(config)],
        mixing=lambda wc: [key.mixing for key in grid.all_runs(config)],
        tables=grid.table_targets(config),
        figures=report_figures(),
        deviations="report/deviations.yaml",
    output:
        report("results/REPORT.md", caption="../report/reproduction.rst", category="Report"),
    log:
        "logs/write_report/report.log",
    params:
        experiments={name: grid.experiment_spec(config, name) for name in config["experiments"]},
        figures={name: grid.figure_spec(config, name) for name in config.get("figures", {})},
        alphas=grid.partition_alphas(config),
        headline=config.get("report", {}).get("headline", "main"),
    localrule: True
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/write_report.py"
