# Pretrained models of each experiment: the "original" model per seed and evaluation classifiers.
# The job config holds the pretraining settings only: editing a method never retrains.


rule pretrain:
    input:
        job=lambda w: job_file(f"pretrain/{w.experiment}/{w.role}"),
        data=lambda w: data_manifests(w.experiment),
    output:
        f"{RESULTS}/models/{{experiment}}/{{role}}-seed{{seed}}.pt",
    log:
        f"logs/{PROFILE}/pretrain/{{experiment}}/{{role}}-seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/pretrain/{{experiment}}/{{role}}-seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    threads: config.get("threads", 1)
    resources:
        gpu=GPUS_PER_JOB,
        mem_mb=HEAVY["mem_mb"],
        runtime=HEAVY["runtime"],
    shell:
        "unlearnbench --config {input.job} pretrain --experiment {wildcards.experiment} "
        "--role {wildcards.role} --seed {wildcards.seed} --output {output} 2>&1 | tee {log}"
