# Aggregate runs into each artifact's table, then draw its figure from the table alone (the arrays
# a figure tiles besides: figure_extra_inputs in common.smk).


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
    log:
        f"logs/{PROFILE}/table/{{artifact}}.log",
    conda:
        CONDA_ENV
    params:
        caption=lambda w: caption_note(w.artifact),
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
    log:
        f"logs/{PROFILE}/figure/{{artifact}}.log",
    conda:
        CONDA_ENV
    params:
        caption=lambda w: caption_note(w.artifact),
    shell:
        "unlearnbench --config {input.job} draw --artifact {wildcards.artifact} "
        "--table {input.table} {output.pdf} {output.png} 2>&1 | tee {log}"
