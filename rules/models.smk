# Model weights: fetched once on a machine with internet, loaded offline by the runs.


rule fetch_model:
    output:
        directory("resources/models/{backbone}"),
    log:
        "logs/fetch_model/{backbone}.log",
    params:
        architecture=lambda wc: config["backbones"][wc.backbone]["architecture"],
        hf_id=lambda wc: config["backbones"][wc.backbone]["hf_id"],
        tiny=lambda wc: config["backbones"][wc.backbone]["tiny"],
    localrule: True
    retries: 2
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/fetch_model.py"
