# Shared definitions: config validation, paths, and the run lists the artifacts ask for.
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # use this checkout's library

from snakemake.exceptions import WorkflowError

from unlearnbench.artifacts import all_artifacts, get_artifact
from unlearnbench.config import ConfigError, validate_config
from unlearnbench.data import dataset_base
from unlearnbench.experiments import get_kind
from unlearnbench.io import write_json

try:
    validate_config(config)
except ConfigError as error:
    raise WorkflowError(str(error))

PROFILE = config["profile"]
RESULTS = f"{config.get('results_root', 'results')}/{PROFILE}"
FIGURES = f"figures/{PROFILE}"
DATA = config.get("data_root", "data")
EXPERIMENTS = config["experiments"]
GPUS_PER_JOB = 0 if config.get("device", "auto") == "cpu" else 1

# The verbs read the validated config from this file; it is rewritten only when it changes.
CONFIG_JSON = f"{RESULTS}/config.json"
_config_text = json.dumps(config, indent=2, sort_keys=True) + "\n"
if not Path(CONFIG_JSON).exists() or Path(CONFIG_JSON).read_text() != _config_text:
    write_json(CONFIG_JSON, config)

ARTIFACTS = [a for a in all_artifacts() if a.runs(config)]
ARTIFACT_NAMES = [a.name for a in ARTIFACTS]


wildcard_constraints:
    seed=r"\d+",
    artifact="|".join(ARTIFACT_NAMES) or "none",


def settings_json(experiment):
    """An experiment's settings as a param: editing them reruns exactly its jobs."""
    return json.dumps(EXPERIMENTS[experiment], sort_keys=True)


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


def artifact_run_files(name):
    return [f"{RESULTS}/{spec.relative_path()}" for spec in get_artifact(name).runs(config)]


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
