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
