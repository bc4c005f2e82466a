# Job configs: the settings each job reads, written by a rule (never while the DAG is parsed).
# The file name carries the content hash, so a file is written once and never changes under a
# running job; the check below refuses to write settings that no longer match the name.


rule job_config:
    output:
        f"{RESULTS}/jobs/{{scope}}.{{digest}}.json",
    log:
        f"logs/{PROFILE}/job_config/{{scope}}.{{digest}}.log",
    wildcard_constraints:
        scope=r"(pretrain|run)/[^/]+/[^/]+|table/[^/]+|compare",
        digest=r"[0-9a-f]{16}",
    localrule: True
    run:
        write_job_config(wildcards.scope, wildcards.digest, output[0], log[0])


rule data_job_config:
    output:
        f"{DATA}/.jobs/{{dataset}}.{{digest}}.json",
    log:
        f"logs/{PROFILE}/job_config/data/{{dataset}}.{{digest}}.log",
    wildcard_constraints:
        dataset=r"[^/]+",
        digest=r"[0-9a-f]{16}",
    localrule: True
    run:
        write_job_config(f"data/{wildcards.dataset}", wildcards.digest, output[0], log[0])
