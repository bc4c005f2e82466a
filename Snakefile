# unlearnbench: one DAG from datasets to every table and figure of the two papers.
#
#   snakemake --cores 2                                   # quick profile (default), offline
#   snakemake --cores 2 figures/quick/gs-fig1.png         # one figure and only what it needs
#   snakemake -n --configfile config/paper.yaml           # the paper-scale DAG (dry run)
#   snakemake --report report.html                        # every table and figure on one page
#
# The rules only call `unlearnbench <verb>` with explicit paths; all logic lives in the
# library (src/unlearnbench), which knows nothing of Snakemake.
from snakemake.utils import min_version

min_version("8.0")

# A --configfile on the command line replaces the default profile instead of being merged
# into it, so a paper run never inherits quick-profile experiments.
if "profile" not in config:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/jobs.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/unlearn.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
