"""The settings one job reads: the slice of the profile that can change its output, and nothing else.

Why: a job used to read the whole resolved profile, rewritten whenever the DAG was parsed,
so (1) a dry run or a refused invocation could change the config under a running job, and
(2) editing one method's learning rate reran every pretraining. Instead each job reads a
*job config*: a small JSON file holding exactly the settings it depends on, named after
its own content hash (``<scope>.<hash>.json``), and written by a workflow rule, never while
the DAG is parsed. A file with a given name therefore never changes: a running job reads
the settings it was scheduled with, and a changed setting is a new input file, which reruns
exactly the jobs that read it.

Scopes:

- ``data/<dataset>``: that dataset's ``datasets:`` entry (preparation), the same for every profile;
- ``pretrain/<experiment>/<role>``: the experiment block without the method blocks (a kind may
  narrow it further with ``pretrain_settings(settings, role)``);
- ``run/<experiment>/<method>``: the experiment block with only this method's block, plus the
  settings hash of every checkpoint the run reads (verified before the run starts);
- ``table/<artifact>``: the profile's global keys and the experiments the artifact reads;
- ``compare``: the profile's global keys.

The job config has the shape of a profile (``profile``, ``device``, ``experiments``, ...), so
the verbs use it exactly like a profile; its ``settings_hash`` is what checkpoints record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from unlearnbench.provenance import config_hash

JOB_FORMAT = "unlearnbench-job-config-v1"
#: Global keys that can change what a pretraining or a run computes (and where it writes).
JOB_KEYS = ("profile", "device", "threads", "data_root", "results_root")
#: Global keys that tables, figures and the comparison read in addition.
REPORT_KEYS = (*JOB_KEYS, "seeds", "published", "description")
HASH_LENGTH = 16


class JobConfigError(ValueError):
    """A job config file is malformed or does not belong to the job reading it."""


def _datasets_for(config: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """The ``datasets:`` entries the named datasets resolve through (aliases included)."""
    entries = dict(config.get("datasets") or {})
    out: dict[str, Any] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in out or name not in entries:
            continue
        out[name] = entries[name]
        base = (entries[name] or {}).get("base")
        if base:
            pending.append(str(base))
    return out


def _experiment_datasets(config: Mapping[str, Any], experiment: str) -> list[str]:
    from unlearnbench.experiments import get_kind

    block = config["experiments"][experiment]
    return [str(d) for d in get_kind(block["kind"]).datasets(block)]


def _methods_matching(methods: Any, method: str) -> Any:
    """The entries of ``methods`` a run named ``method`` reads.

    Run variants are named ``<method>_eps<epsilon>[_<label>]`` (see ``method_variants``); an
    entry matches its own name and its variants. A run of no configured method (the
    generative kind's ``before``, the model as pretrained) reads none of them.
    """

    def matches(name: str) -> bool:
        return method == name or method.startswith(f"{name}_eps")

    if isinstance(methods, Mapping):
        return {name: value for name, value in methods.items() if matches(str(name))}
    if isinstance(methods, list):
        return [name for name in methods if matches(str(name))]
    return methods


def _pretrain_methods(methods: Any) -> Any:
    """What pretraining may read of the method blocks: their names and their ``hessian`` only.

    Some kinds record a gradient bank during pretraining when a method uses the
    finite-difference Hessian; nothing else of a method block reaches pretraining.
    """
    if isinstance(methods, Mapping):
        return {
            name: (
                {"hessian": value["hessian"]} if isinstance(value, Mapping) and "hessian" in value else None
            )
            for name, value in methods.items()
        }
    return methods


def pretrain_settings(config: Mapping[str, Any], experiment: str, role: str) -> dict[str, Any]:
    """The part of an experiment block that pretraining model ``role`` reads."""
    from unlearnbench.experiments import get_kind

    block = dict(config["experiments"][experiment])
    kind = get_kind(block["kind"])
    if hasattr(kind, "pretrain_settings"):
        return dict(kind.pretrain_settings(block, role))
    if "methods" in block:
        block["methods"] = _pretrain_methods(block["methods"])
    return block


def run_settings(config: Mapping[str, Any], experiment: str, method: str) -> dict[str, Any]:
    """The part of an experiment block that one run of ``method`` reads."""
    block = dict(config["experiments"][experiment])
    if "methods" in block:
        block["methods"] = _methods_matching(block["methods"], method)
    return block


def expected_pretraining(config: Mapping[str, Any], experiment: str, method: str) -> dict[str, str]:
    """Settings hash of each checkpoint a run reads, by role: what ``run`` checks on load.

    A reading block (``reading: {of: ...}``) reads the checkpoints of the block it varies, so it
    expects that block's pretraining settings, not its own (which differ in ``unlearning``).
    """
    from unlearnbench.experiments import get_kind
    from unlearnbench.experiments.base import pretraining_owner

    block = config["experiments"][experiment]
    expects = {}
    for ref in get_kind(block["kind"]).pretrained(block, method, 0):
        owner = ref.experiment or pretraining_owner(block) or experiment
        expects[ref.role] = settings_hash(build(config, f"pretrain/{owner}/{ref.role}"))
    return expects


def _global(config: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: config[key] for key in keys if key in config}


def build(config: Mapping[str, Any], scope: str) -> dict[str, Any]:
    """The job config of ``scope`` (see the module docstring) from a validated profile."""
    parts = scope.split("/")
    what = parts[0]
    if what == "data" and len(parts) == 2:
        # Profiles share the data folder, so a dataset's job config names no profile: two
        # profiles that agree on a dataset share its preparation instead of redoing it in turn.
        body = {
            "data_root": config.get("data_root", "data"),
            "datasets": _datasets_for(config, [parts[1]]),
            "experiments": {},
        }
    elif what == "pretrain" and len(parts) == 3:
        _, experiment, role = parts
        body = {
            **_global(config, JOB_KEYS),
            "datasets": _datasets_for(config, _experiment_datasets(config, experiment)),
            "experiments": {experiment: pretrain_settings(config, experiment, role)},
        }
    elif what == "run" and len(parts) == 3:
        _, experiment, method = parts
        body = {
            **_global(config, JOB_KEYS),
            "datasets": _datasets_for(config, _experiment_datasets(config, experiment)),
            "experiments": {experiment: run_settings(config, experiment, method)},
        }
    elif what == "table" and len(parts) == 2:
        from unlearnbench.artifacts import get_artifact

        names = sorted({spec.experiment for spec in get_artifact(parts[1]).runs(config)})
        datasets = [d for name in names for d in _experiment_datasets(config, name)]
        body = {
            **_global(config, REPORT_KEYS),
            "datasets": _datasets_for(config, datasets),
            "experiments": {name: config["experiments"][name] for name in names},
        }
    elif scope == "compare":
        body = {**_global(config, REPORT_KEYS), "experiments": {}}
    else:
        raise JobConfigError(f"unknown job scope {scope!r}")
    return _normalise(body)


def settings_hash(body: Mapping[str, Any]) -> str:
    """The hash checkpoints record (``provenance.config_hash`` of the job config)."""
    return config_hash(body)


def wrap(scope: str, body: Mapping[str, Any], expects: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The file content: format, scope, the settings, and the settings hashes of the inputs it expects."""
    return {"format": JOB_FORMAT, "scope": scope, "config": dict(body), "expects": dict(expects or {})}


def file_text(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def file_hash(document: Mapping[str, Any]) -> str:
    """Short content hash used in the file name, so that a name always means one content."""
    return config_hash(document)[:HASH_LENGTH]


def is_job_config(document: Any) -> bool:
    return isinstance(document, Mapping) and document.get("format") == JOB_FORMAT


def check_scope(document: Mapping[str, Any], scope: str, path: str) -> None:
    """Refuse a job config written for another job (a wrong path on the command line)."""
    if document.get("scope") != scope:
        raise JobConfigError(f"{path} holds the settings of job {document.get('scope')!r}, not of {scope!r}")


def _normalise(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))
