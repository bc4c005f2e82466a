# Datasets: download with checksums (or generate stand-ins), then prepare tensors + manifest.


rule prepare_data:
    output:
        f"{DATA}/{{dataset}}/manifest.json",
    log:
        f"logs/{PROFILE}/prepare_data/{{dataset}}.log",
    shell:
        "unlearnbench --config {CONFIG_JSON} prepare-data --dataset {wildcards.dataset} 2>&1 | tee {log}"
