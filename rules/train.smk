# One federated run per (dataset, partition, algorithm, variant, seed): a GPU job.


rule run_federation:
    input:
        data=data_input(run_data),
        split=run_split,
        model=model_dir,
        selection=tuned_selection,
    output:
        metrics=f"{PATHS['run']}/metrics.csv",
        info=f"{PATHS['run']}/run.json",
        mixing=f"{PATHS['run']}/mixing.csv",
        # Per round and client: how far LoRA A, B and the head moved (fhbench.diagnostics).
        diagnostics=f"{PATHS['run']}/diagnostics.csv",
        # Per round and client: asked, and returned its update (fhbench.participation).
        participation=f"{PATHS['run']}/participation.csv",
    log:
        PATHS["run_log"],
    # With the warm worker (execution.warm_worker) this times only the hand-off to it: run.json
    # records the run's own wall time, CPU time and peak memory (its "cost").
    benchmark:
        PATHS["run_benchmark"]
    # A run killed by preemption, a time limit or a node failure is resubmitted and resumes
    # from its last round checkpoint (on Slurm, `slurm-requeue` requeues it first).
    retries: 2
    conda:
        "../environment.yml"
    threads: train_resource("cpus")
    resources:
        gpu=train_resource("gpus"),
        mem_mb=train_resource("mem_mb"),
        runtime=train_resource("runtime"),
    params:
        run=run_params,
        # Not an output: Snakemake would delete it when a preempted job fails.
        checkpoints=PATHS["checkpoints"],
    script:
        "../workflow/scripts/run_federation.py"
