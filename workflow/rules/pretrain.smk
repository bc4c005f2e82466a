# Pretrained models of each experiment: the "original" model per seed and evaluation classifiers.


rule pretrain:
    input:
        lambda w: data_manifests(w.experiment),
    output:
        f"{RESULTS}/models/{{experiment}}/{{role}}-seed{{seed}}.pt",
    params:
        settings=lambda w: settings_json(w.experiment),
    threads: config.get("threads", 1)
    resources:
        gpu=GPUS_PER_JOB,
    log:
        f"logs/{PROFILE}/pretrain/{{experiment}}/{{role}}-seed{{seed}}.log",
    shell:
        "unlearnbench --config {CONFIG_JSON} pretrain --experiment {wildcards.experiment} "
        "--role {wildcards.role} --seed {wildcards.seed} --output {output} 2>&1 | tee {log}"
