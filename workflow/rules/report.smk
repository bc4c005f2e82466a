# Every published number beside the reproduced one.


rule compare:
    input:
        job=job_file("compare"),
        published=config.get("published", "config/published.yaml"),
        tables=[f"{RESULTS}/tables/{name}.csv" for name in ARTIFACT_NAMES],
    output:
        csv=report(f"{RESULTS}/comparison.csv", caption="../report/comparison.rst", category="Comparison"),
        md=f"{RESULTS}/comparison.md",
    log:
        f"logs/{PROFILE}/compare.log",
    shell:
        "unlearnbench --config {input.job} compare --published {input.published} "
        "--csv {output.csv} --md {output.md} {input.tables} 2>&1 | tee {log}"
