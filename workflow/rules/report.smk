# Every published number beside the reproduced one, and every claim of the papers judged.


class _VerdictCounts:
    """The counts line, read from the compare rule's outputs when the report renders its caption.

    Not a plain value, so Snakemake does not record it as a param (a changed count never
    reruns anything); ``str`` reads the files as they are at report time.
    """

    def __init__(self, comparison, claims):
        self.comparison, self.claims = comparison, claims

    def __str__(self):
        from unlearnbench.comparison import counts_from_files

        if not Path(self.comparison).exists():
            return "(not computed yet)"
        return counts_from_files(self.comparison, self.claims)


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
    params:
        counts=lambda w: _VerdictCounts(f"{RESULTS}/comparison.csv", f"{RESULTS}/claims.csv"),
    log:
        f"logs/{PROFILE}/compare.log",
    shell:
        "unlearnbench --config {input.job} compare --published {input.published} "
        "--csv {output.csv} --md {output.md} --claims {input.claims} --claims-csv {output.claims} "
        "{input.tables} 2>&1 | tee {log}"
