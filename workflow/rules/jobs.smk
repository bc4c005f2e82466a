# Job configs: the settings each job reads, written by a rule (never while the DAG is parsed).
# The file name carries the content hash, so a file is written once and never changes under a
# running job; `unlearnbench write-job-config` refuses to write settings that no longer match
# the name. A shell rule, not `run:`: Snakemake runs a `run:` job in a new Snakemake process
# that parses the workflow again (about 10 s each; 78 job configs in the quick profile).


rule job_config:
    output:
        f"{RESULTS}/jobs/{{scope}}.{{digest}}.json",
    log:
        f"logs/{PROFILE}/job_config/{{scope}}.{{digest}}.log",
    wildcard_constraints:
        scope=r"(pretrain|run)/[^/]+/[^/]+|table/[^/]+|compare",
        digest=r"[0-9a-f]{16}",
    localrule: True
    conda:
        CONDA_ENV
    params:
        document=lambda wildcards: job_document_json(wildcards.scope),
    shell:
        "printf '%s' {params.document:q} | unlearnbench write-job-config "
        "--digest {wildcards.digest} --output {output} > {log} 2>&1"


rule data_job_config:
    output:
        f"{DATA}/.jobs/{{dataset}}.{{digest}}.json",
    log:
        f"logs/{PROFILE}/job_config/data/{{dataset}}.{{digest}}.log",
    wildcard_constraints:
        dataset=r"[^/]+",
        digest=r"[0-9a-f]{16}",
    localrule: True
    conda:
        CONDA_ENV
    params:
        document=lambda wildcards: job_document_json(f"data/{wildcards.dataset}"),
    shell:
        "printf '%s' {params.document:q} | unlearnbench write-job-config "
        "--digest {wildcards.digest} --output {output} > {log} 2>&1"
