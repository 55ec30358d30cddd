# Tuning (fhbench.tuning, docs/protocol.md §9): trial runs that score validation only, one
# selection per (dataset, partition, algorithm), and the tables, figures and REPORT.md section
# saying what tuning changed. The tuned experiments' final runs are run_federation jobs of
# variant `tuned` whose input is their group's selection (rules/train.smk).


rule tune_trial:
    input:
        data=data_input(run_data),
        split=run_split,
        model=model_dir,
    output:
        metrics=f"{TUNING_PATHS['trial']}/metrics.csv",
        info=f"{TUNING_PATHS['trial']}/run.json",
        mixing=f"{TUNING_PATHS['trial']}/mixing.csv",
        diagnostics=f"{TUNING_PATHS['trial']}/diagnostics.csv",
        participation=f"{TUNING_PATHS['trial']}/participation.csv",
    log:
        TUNING_PATHS["trial_log"],
    benchmark:
        TUNING_PATHS["trial_benchmark"]
    retries: 2
    conda:
        "../environment.yml"
    threads: train_resource("cpus")
    resources:
        gpu=train_resource("gpus"),
        mem_mb=train_resource("mem_mb"),
        runtime=train_resource("runtime"),
    params:
        run=trial_params,
        checkpoints=TUNING_PATHS["trial_checkpoints"],
    script:
        "../workflow/scripts/run_federation.py"


rule select_trial:
    input:
        metrics=lambda wc: [k.metrics for k in group_trials(wc)],
        infos=lambda wc: [k.info for k in group_trials(wc)],
    output:
        TUNING_PATHS["selection"],
    log:
        f"{PATHS['logs']}/select_trial/{{dataset}}/{{partition}}/{{algorithm}}.log",
    localrule: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("select_trial", "mem_mb"),
        runtime=rule_resource("select_trial", "runtime"),
    params:
        trials=lambda wc: tuning.group_trials(config, wc.dataset, wc.partition, wc.algorithm),
        trial_keys=lambda wc: [[k.dataset, k.partition, k.algorithm, k.trial, k.seed] for k in group_trials(wc)],
        score=tuning.settings(config).get("score"),
    script:
        "../workflow/scripts/select_trial.py"


rule tuning_report:
    input:
        selections=tuning.selection_paths(config),
        trial_infos=[k.info for k in tuning.trial_runs(config)],
        metrics=[k.metrics for k in tuning.final_runs(config)],
        infos=[k.info for k in tuning.final_runs(config)],
    output:
        trials=report(f"{PATHS['tables']}/tuning_trials.csv", caption="../report/tuning.rst", category="Tuning"),
        vs_csv=f"{PATHS['tables']}/tuned_vs_default.csv",
        vs_md=f"{PATHS['tables']}/tuned_vs_default.md",
        compute_csv=f"{PATHS['tables']}/tuning_compute.csv",
        compute_md=f"{PATHS['tables']}/tuning_compute.md",
        figures=[path for paths in tuning_figures().values() for path in paths],
        section=tuning_section(),
    log:
        f"{PATHS['logs']}/tuning_report/tuning.log",
    localrule: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=rule_resource("tuning_report", "mem_mb"),
        runtime=rule_resource("tuning_report", "runtime"),
    params:
        spec=tuning_spec(),
        figures=tuning_figures(),
    script:
        "../workflow/scripts/tuning_report.py"
