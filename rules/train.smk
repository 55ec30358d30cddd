# One federated run per (dataset, partition, algorithm, variant, seed): a GPU job.


rule run_federation:
    input:
        data="resources/prepared/{dataset}",
        split="resources/partitions/{dataset}/{partition}.json",
        model=model_dir,
    output:
        metrics="results/runs/{dataset}/{partition}/{algorithm}/{variant}/seed{seed}/metrics.csv",
        info="results/runs/{dataset}/{partition}/{algorithm}/{variant}/seed{seed}/run.json",
        mixing="results/runs/{dataset}/{partition}/{algorithm}/{variant}/seed{seed}/mixing.csv",
    log:
        "logs/run_federation/{dataset}/{partition}/{algorithm}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/run_federation/{dataset}/{partition}/{algorithm}/{variant}/seed{seed}.tsv"
    params:
        run=run_params,
        # Not an output: Snakemake would delete it when a preempted job fails.
        checkpoints="results/checkpoints/{dataset}/{partition}/{algorithm}/{variant}/seed{seed}",
    # A run killed by preemption, a time limit or a node failure is resubmitted and resumes
    # from its last round checkpoint (on Slurm, `slurm-requeue` requeues it first).
    retries: 2
    threads: train_resource("cpus")
    resources:
        gpu=train_resource("gpus"),
        mem_mb=train_resource("mem_mb"),
        runtime=train_resource("runtime"),
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/run_federation.py"
