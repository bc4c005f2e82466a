# Shared definitions: config validation, paths, and the run lists the artifacts ask for.
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # use this checkout's library

from functools import lru_cache

from snakemake.exceptions import WorkflowError

from unlearnbench import jobconfig
from unlearnbench.artifacts import all_artifacts, figure_arrays, get_artifact
from unlearnbench.config import ConfigError, validate_config
from unlearnbench.data import dataset_base
from unlearnbench.experiments import get_kind, run_arrays

try:
    validate_config(config)  # spelling (schema) and meaning (classes, seeds, names, datasets, artifacts)
except ConfigError as error:
    raise WorkflowError(str(error))

PROFILE = config["profile"]
RESULTS = f"{config.get('results_root', 'results')}/{PROFILE}"
FIGURES = f"figures/{PROFILE}"
DATA = config.get("data_root", "data")
EXPERIMENTS = config["experiments"]
GPUS_PER_JOB = 0 if config.get("device", "auto") == "cpu" else 1
# Cluster requests of the heavy rules (pretrain, run*), following the SLURM executor plugin:
# gpu=N becomes `sbatch --gpus=N`; mem_mb and runtime (minutes) by the profile's scale, so a
# CPU profile fits a small cluster without overrides. Local runs ignore them unless limited.
HEAVY = {"mem_mb": 4000, "runtime": 60} if GPUS_PER_JOB == 0 else {"mem_mb": 32000, "runtime": 240}
# The software of the rules that run a command, deployed by `--software-deployment-method conda`,
# is the profile's `conda_env` (relative to the working directory), else the environment of its
# device in workflow/envs/ (a relative `conda` path is read from the folder of the rule files).
if "conda_env" in config:
    CONDA_ENV = str(Path(config["conda_env"]).resolve())
else:
    CONDA_ENV = "../envs/cpu.yaml" if GPUS_PER_JOB == 0 else "../envs/gpu.yaml"
# Wall time and memory of the heavy jobs (Snakemake's `benchmark:` files), per profile beside its
# results; not in the repository's benchmarks/ folder, which holds the speed-ratio scripts.
BENCHMARKS = f"{RESULTS}/benchmarks"

# Nothing is written while the DAG is parsed. Each job reads a *job config*: the settings it
# depends on and nothing else, in a file named after its content hash and written by the rule
# `job_config` (unlearnbench.jobconfig). A running job's file never changes; a changed setting
# is a new input file, which reruns exactly the jobs that read it. Data job configs live in the
# data folder, which profiles share.
JOBS = f"{RESULTS}/jobs"
DATA_JOBS = f"{DATA}/.jobs"


@lru_cache(maxsize=None)
def job_document(scope):
    body = jobconfig.build(config, scope)
    expects = {}
    if scope.startswith("run/"):
        _, experiment, method = scope.split("/", 2)
        expects = jobconfig.expected_pretraining(config, experiment, method)
    return jobconfig.wrap(scope, body, expects)


def job_file(scope):
    folder = DATA_JOBS if scope.startswith("data/") else JOBS
    name = scope.removeprefix("data/") if scope.startswith("data/") else scope
    return f"{folder}/{name}.{jobconfig.file_hash(job_document(scope))}.json"


ARTIFACTS = [a for a in all_artifacts() if a.runs(config)]
ARTIFACT_NAMES = [a.name for a in ARTIFACTS]


wildcard_constraints:
    seed=r"\d+",
    artifact="|".join(ARTIFACT_NAMES) or "none",


def kind_of(experiment):
    return get_kind(EXPERIMENTS[experiment]["kind"])


def experiments_where(predicate):
    names = [name for name, block in EXPERIMENTS.items() if predicate(block)]
    return "|".join(names) or "none"


def data_manifests(experiment):
    datasets = kind_of(experiment).datasets(EXPERIMENTS[experiment])
    return [f"{DATA}/{dataset_base(d, config.get('datasets'))}/manifest.json" for d in datasets]


def run_inputs(wildcards):
    """Checkpoints and data a run reads, as its experiment kind declares them."""
    kind = kind_of(wildcards.experiment)
    refs = kind.pretrained(EXPERIMENTS[wildcards.experiment], wildcards.method, int(wildcards.seed))
    models = [f"{RESULTS}/models/{ref.experiment or wildcards.experiment}/{ref.filename()}" for ref in refs]
    return models + data_manifests(wildcards.experiment)


def run_job(wildcards):
    return job_file(f"run/{wildcards.experiment}/{wildcards.method}")


def artifact_run_files(name):
    return [f"{RESULTS}/{spec.relative_path()}" for spec in get_artifact(name).runs(config)]


# Arrays saved beside the run JSONs that a figure tiles (figures never recompute anything).
def figure_extra_inputs(wildcards):
    """Arrays saved beside the run JSONs that the figure tiles, as the artifact declares them."""
    suffixes = figure_arrays(wildcards.artifact)
    return [f[: -len(".json")] + s for s in suffixes for f in artifact_run_files(wildcards.artifact)]


def artifact_outputs(name):
    return [
        f"{RESULTS}/tables/{name}.csv",
        f"{RESULTS}/tables/{name}.md",
        f"{FIGURES}/{name}.pdf",
        f"{FIGURES}/{name}.png",
    ]


def caption_note(name):
    """Profile and data description shown in the report caption of an artifact."""
    artifact = get_artifact(name)
    return f"{artifact.title}. Profile '{PROFILE}': {artifact.status(config)}."


def all_targets():
    targets = [path for name in ARTIFACT_NAMES for path in artifact_outputs(name)]
    return targets + [f"{RESULTS}/comparison.csv", f"{RESULTS}/comparison.md"]


def job_document_json(scope):
    """The job config of ``scope`` as one line of JSON, for `unlearnbench write-job-config`."""
    return json.dumps(job_document(scope), sort_keys=True)


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
