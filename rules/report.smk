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
