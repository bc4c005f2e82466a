# Datasets: download with checksums (or generate stand-ins), then prepare tensors + manifest.
# The job config holds the dataset's entry of `datasets:`: editing it (say `test_fraction`)
# prepares the dataset again.


rule prepare_data:
    input:
        job=lambda w: job_file(f"data/{w.dataset}"),
    output:
        f"{DATA}/{{dataset}}/manifest.json",
    log:
        f"logs/{PROFILE}/prepare_data/{{dataset}}.log",
    conda:
        CONDA_ENV
    shell:
        "unlearnbench --config {input.job} prepare-data --dataset {wildcards.dataset} 2>&1 | tee {log}"
