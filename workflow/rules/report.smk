# Every published number beside the reproduced one, and every claim of the papers judged (the
# report caption's verdict counts: _VerdictCounts in common.smk).


rule compare:
    input:
        job=job_file("compare"),
        published=config.get("published", "config/published.yaml"),
        claims=str(Path(workflow.basedir) / "config" / "claims.yaml"),
        tables=[f"{RESULTS}/tables/{name}.csv" for name in ARTIFACT_NAMES],
    output:
        csv=report(f"{RESULTS}/comparison.csv", caption="../report/comparison.rst", category="Comparison"),
        md=f"{RESULTS}/comparison.md",
        claims=report(f"{RESULTS}/claims.csv", caption="../report/comparison.rst", category="Comparison"),
    log:
        f"logs/{PROFILE}/compare.log",
    conda:
        CONDA_ENV
    params:
        counts=lambda w: _VerdictCounts(f"{RESULTS}/comparison.csv", f"{RESULTS}/claims.csv"),
    shell:
        "unlearnbench --config {input.job} compare --published {input.published} "
        "--csv {output.csv} --md {output.md} --claims {input.claims} --claims-csv {output.claims} "
        "{input.tables} 2>&1 | tee {log}"
