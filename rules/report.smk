# Tables, figures and REPORT.md, each computed from the tidy metrics of the runs it needs.
# Every output is a file target: `snakemake results/figures/<name>.pdf` runs only its experiment.


rule label_priors:
    input:
        lambda wc: [source[2] for source in grid.prior_sources(config)],
    output:
        grid.priors_path(config),
    log:
        f"{PATHS['logs']}/label_priors/label_priors.log",
    localrule: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("label_priors", "mem_mb"),
        runtime=rule_resource("label_priors", "runtime"),
    params:
        # Each split's priors (each client's and the pooled training majority, no training), one table.
        sources=lambda wc: grid.prior_sources(config),
    script:
        "../workflow/scripts/label_priors.py"


rule make_table:
    input:
        metrics=experiment_metrics,
        priors=lambda wc: [source[2] for source in grid.prior_sources(config, wc.experiment)],
    output:
        csv=f"{PATHS['tables']}/{{experiment}}_{{metric}}.csv",
        md=f"{PATHS['tables']}/{{experiment}}_{{metric}}.md",
        tex=f"{PATHS['tables']}/{{experiment}}_{{metric}}.tex",
        html=report(
            f"{PATHS['tables']}/{{experiment}}_{{metric}}.html",
            caption="../report/table.rst",
            category="Tables",
            subcategory="{metric}",
            labels={"experiment": "{experiment}", "metric": "{metric}"},
        ),
    log:
        f"{PATHS['logs']}/make_table/{{experiment}}_{{metric}}.log",
    localrule: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("make_table", "mem_mb"),
        runtime=rule_resource("make_table", "runtime"),
    params:
        spec=lambda wc: grid.experiment_spec(config, wc.experiment),
        priors=lambda wc: grid.prior_sources(config, wc.experiment),
    script:
        "../workflow/scripts/make_table.py"


# Participating vs unseen clients (partitions.<name>.unseen): one table over every experiment that holds clients out.
rule unseen_table:
    input:
        lambda wc: [key.metrics for exp in grid.unseen_experiments(config) for key in grid.experiment_runs(config, exp)],
    output:
        csv=f"{PATHS['tables']}/unseen_accuracy.csv",
        md=f"{PATHS['tables']}/unseen_accuracy.md",
    log:
        f"{PATHS['logs']}/unseen_table/unseen_accuracy.log",
    localrule: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("make_table", "mem_mb"),
        runtime=rule_resource("make_table", "runtime"),
    params:
        specs=lambda wc: [grid.experiment_spec(config, exp) for exp in grid.unseen_experiments(config)],
    script:
        "../workflow/scripts/unseen_table.py"


rule dataset_table:
    input:
        prepared=dataset_table_prepared,
        splits=dataset_table_splits,
    output:
        csv=report(f"{PATHS['tables']}/datasets.csv", caption="../report/dataset_table.rst", category="Data"),
        md=f"{PATHS['tables']}/datasets.md",
        tex=f"{PATHS['tables']}/datasets.tex",
    log:
        f"{PATHS['logs']}/dataset_table/datasets.log",
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("dataset_table", "mem_mb"),
        runtime=rule_resource("dataset_table", "runtime"),
    params:
        pairs=lambda wc: grid.data_partitions(config),
    script:
        "../workflow/scripts/dataset_table.py"


rule plot_split:
    input:
        unpack(split_inputs),
    output:
        pdf=report(f"{PATHS['figures']}/split_{{dataset}}_{{partition}}.pdf", caption="../report/split_figure.rst", category="Data"),
        png=f"{PATHS['figures']}/split_{{dataset}}_{{partition}}.png",
    log:
        f"{PATHS['logs']}/plot_split/{{dataset}}_{{partition}}.log",
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("plot_split", "mem_mb"),
        runtime=rule_resource("plot_split", "runtime"),
    script:
        "../workflow/scripts/plot_split.py"


rule efficiency_table:
    output:
        csv=report(f"{PATHS['tables']}/efficiency.csv", caption="../report/efficiency_table.rst", category="Tables"),
        md=f"{PATHS['tables']}/efficiency.md",
        tex=f"{PATHS['tables']}/efficiency.tex",
    log:
        f"{PATHS['logs']}/efficiency_table/efficiency.log",
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("efficiency_table", "mem_mb"),
        runtime=rule_resource("efficiency_table", "runtime"),
    params:
        # Counted from the real architectures' configs: no model files are inputs.
        # Only what the table uses, so that e.g. a dataset's lr does not redo it.
        config=grid.efficiency_settings(config),
    script:
        "../workflow/scripts/efficiency_table.py"


rule plot_figure:
    input:
        figure_metrics,
    output:
        pdf=f"{PATHS['figures']}/{{figure}}.pdf",
        png=report(
            f"{PATHS['figures']}/{{figure}}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        f"{PATHS['logs']}/plot_figure/{{figure}}.log",
    localrule: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("plot_figure", "mem_mb"),
        runtime=rule_resource("plot_figure", "runtime"),
    params:
        spec=lambda wc: grid.figure_spec(config, wc.figure),
        alphas=grid.partition_alphas(config),
    script:
        "../workflow/scripts/plot_figure.py"


rule judge_claims:
    input:
        unpack(claims_inputs),
    output:
        csv=report(f"{PATHS['tables']}/claims.csv", caption="../report/claims.rst", category="Claims"),
        md=f"{PATHS['tables']}/claims.md",
        pdf=f"{PATHS['figures']}/{grid.CLAIMS_FIGURE}.pdf",
        png=report(f"{PATHS['figures']}/{grid.CLAIMS_FIGURE}.png", caption="../report/claims.rst", category="Claims"),
    log:
        f"{PATHS['logs']}/judge_claims/claims.log",
    localrule: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("judge_claims", "mem_mb"),
        runtime=rule_resource("judge_claims", "runtime"),
    params:
        experiments=experiment_specs(),
    script:
        "../workflow/scripts/judge_claims.py"


rule write_report:
    input:
        metrics=lambda wc: [key.metrics for key in grid.all_runs(config)],
        infos=report_run_infos,
        mixing=lambda wc: [key.mixing for key in grid.all_runs(config)],
        tables=grid.table_targets(config),
        priors=grid.priors_path(config),
        figures=report_figures(),
        claims=f"{PATHS['tables']}/claims.csv",
        claims_plot=f"{PATHS['figures']}/{grid.CLAIMS_FIGURE}.png",
        sections=report_sections(),
        deviations="report/deviations.yaml",
    output:
        report(PATHS["report"], caption="../report/reproduction.rst", category="Report"),
    log:
        f"{PATHS['logs']}/write_report/report.log",
    localrule: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("write_report", "mem_mb"),
        runtime=rule_resource("write_report", "runtime"),
    params:
        experiments={name: grid.experiment_spec(config, name) for name in config["experiments"]},
        figures={name: grid.figure_spec(config, name) for name in config.get("figures", {})},
        alphas=grid.partition_alphas(config),
        headline=config.get("report", {}).get("headline", "main"),
        demo=grid.is_demo(config),
        name=grid.config_name(config),
        configured_figures=grid.figure_targets(config),
    script:
        "../workflow/scripts/write_report.py"
