# Aggregate runs into each artifact's table, then draw its figure from the table alone.


def figure_extra_inputs(wildcards):
    """Arrays saved beside the run JSONs that the figure tiles, as the artifact declares them."""
    suffixes = figure_arrays(wildcards.artifact)
    return [f[: -len(".json")] + s for s in suffixes for f in artifact_run_files(wildcards.artifact)]


rule table:
    input:
        job=lambda w: job_file(f"table/{w.artifact}"),
        runs=lambda w: artifact_run_files(w.artifact),
    output:
        csv=report(
            f"{RESULTS}/tables/{{artifact}}.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"artifact": "{artifact}", "profile": PROFILE},
        ),
        md=f"{RESULTS}/tables/{{artifact}}.md",
    params:
        caption=lambda w: caption_note(w.artifact),
    log:
        f"logs/{PROFILE}/table/{{artifact}}.log",
    shell:
        "unlearnbench --config {input.job} aggregate --artifact {wildcards.artifact} "
        "--csv {output.csv} --md {output.md} {input.runs} 2>&1 | tee {log}"


rule figure:
    input:
        job=lambda w: job_file(f"table/{w.artifact}"),
        table=f"{RESULTS}/tables/{{artifact}}.csv",
        extra=figure_extra_inputs,
    output:
        pdf=f"{FIGURES}/{{artifact}}.pdf",
        png=report(
            f"{FIGURES}/{{artifact}}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"artifact": "{artifact}", "profile": PROFILE},
        ),
    params:
        caption=lambda w: caption_note(w.artifact),
    log:
        f"logs/{PROFILE}/figure/{{artifact}}.log",
    shell:
        "unlearnbench --config {input.job} draw --artifact {wildcards.artifact} "
        "--table {input.table} {output.pdf} {output.png} 2>&1 | tee {log}"
