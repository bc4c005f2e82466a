# One unlearning run (experiment, method, seed) -> run JSON with metrics and provenance.
# Some kinds also save arrays that figures tile (they never recompute): generated samples or
# activation maps, as the kind declares (RUN_ARRAYS). One rule per such set of files, so that
# Snakemake tracks every file a run writes.


rule run_generative:
    input:
        job=run_job,
        models=run_inputs,
    output:
        json=f"{RESULTS}/runs/{{experiment}}/{{method}}/seed{{seed}}.json",
        samples=f"{RESULTS}/runs/{{experiment}}/{{method}}/seed{{seed}}.samples.npz",
    log:
        f"logs/{PROFILE}/run/{{experiment}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/run/{{experiment}}/{{method}}/seed{{seed}}.tsv"
    wildcard_constraints:
        experiment=experiments_where(lambda b: run_arrays(b["kind"]) == (".samples.npz",)),
    conda:
        CONDA_ENV
    threads: config.get("threads", 1)
    resources:
        gpu=GPUS_PER_JOB,
        mem_mb=HEAVY["mem_mb"],
        runtime=HEAVY["runtime"],
    shell:
        "unlearnbench --config {input.job} run --experiment {wildcards.experiment} "
        "--method {wildcards.method} --seed {wildcards.seed} --output {output.json} 2>&1 | tee {log}"


rule run_reid:
    input:
        job=run_job,
        models=run_inputs,
    output:
        json=f"{RESULTS}/runs/{{experiment}}/{{method}}/seed{{seed}}.json",
        actmaps=f"{RESULTS}/runs/{{experiment}}/{{method}}/seed{{seed}}.actmaps.npz",
    log:
        f"logs/{PROFILE}/run/{{experiment}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/run/{{experiment}}/{{method}}/seed{{seed}}.tsv"
    wildcard_constraints:
        experiment=experiments_where(lambda b: run_arrays(b["kind"]) == (".actmaps.npz",)),
    conda:
        CONDA_ENV
    threads: config.get("threads", 1)
    resources:
        gpu=GPUS_PER_JOB,
        mem_mb=HEAVY["mem_mb"],
        runtime=HEAVY["runtime"],
    shell:
        "unlearnbench --config {input.job} run --experiment {wildcards.experiment} "
        "--method {wildcards.method} --seed {wildcards.seed} --output {output.json} 2>&1 | tee {log}"


rule run:
    input:
        job=run_job,
        models=run_inputs,
    output:
        f"{RESULTS}/runs/{{experiment}}/{{method}}/seed{{seed}}.json",
    log:
        f"logs/{PROFILE}/run/{{experiment}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/run/{{experiment}}/{{method}}/seed{{seed}}.tsv"
    wildcard_constraints:
        experiment=experiments_where(lambda b: not run_arrays(b["kind"])),
    conda:
        CONDA_ENV
    threads: config.get("threads", 1)
    resources:
        gpu=GPUS_PER_JOB,
        mem_mb=HEAVY["mem_mb"],
        runtime=HEAVY["runtime"],
    shell:
        "unlearnbench --config {input.job} run --experiment {wildcards.experiment} "
        "--method {wildcards.method} --seed {wildcards.seed} --output {output} 2>&1 | tee {log}"
