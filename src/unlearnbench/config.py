"""Load, validate and resolve a profile config.

The config is validated against ``config/schema.yaml`` (JSON Schema, every object closed
with ``additionalProperties: false``) before anything runs, so a misspelt key fails at
start-up with its name and path instead of being silently ignored by a run hours later.
Then its meaning is checked (:func:`check_meaning`): names usable as path parts, known
datasets, classes and forget classes that exist, a retain set left after forgetting,
distinct seeds, and every experiment read by some artifact. Both run at ``validate-config``
and when the workflow starts, so a config that cannot work fails before any training.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = REPO_ROOT / "config" / "schema.yaml"
KIND_SCHEMAS = REPO_ROOT / "config" / "schema"  # one file per experiment kind: <kind>.yaml
DEFAULT_CONFIG = REPO_ROOT / "config" / "config.yaml"


#: Experiment, method and dataset names become folder names and command-line arguments.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ConfigError(ValueError):
    """The config does not match the schema; the message names every offending key."""


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error is a :class:`ConfigError` naming the line."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def load_schema(path: str | Path | None = None, kinds_dir: str | Path | None = None) -> dict[str, Any]:
    """The profile schema with one sub-schema per experiment kind plugged in.

    ``config/schema/<kind>.yaml`` describes the experiment blocks of that kind; its own
    ``$defs`` are merged into the top-level ones. An experiment block is checked against
    the sub-schema its ``kind`` selects, so errors point at the right keys.
    """
    schema = load_yaml(path or DEFAULT_SCHEMA)
    defs = schema.setdefault("$defs", {})
    branches, kinds = [], []
    for fragment_path in sorted(Path(kinds_dir or KIND_SCHEMAS).glob("*.yaml")):
        kind = fragment_path.stem
        fragment = load_yaml(fragment_path)
        for name, definition in fragment.pop("$defs", {}).items():
            if name in defs:
                raise ValueError(f"{fragment_path}: $defs entry {name!r} is already defined elsewhere")
            defs[name] = definition
        defs[f"kind:{kind}"] = fragment
        kinds.append(kind)
        branches.append({"if": {"properties": {"kind": {"const": kind}}}, "then": {"$ref": f"#/$defs/kind:{kind}"}})
    defs["experiment"] = {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": kinds}},
        "allOf": branches,
    }
    return schema


def load_config(path: str | Path | None = None, schema_path: str | Path | None = None) -> dict[str, Any]:
    """Read a profile file and validate it; the result is what Snakemake's ``config`` holds."""
    config = load_yaml(path or DEFAULT_CONFIG)
    validate_config(config, schema_path)
    return config


def validate_config(config: Mapping[str, Any], schema_path: str | Path | None = None) -> None:
    """Raise :class:`ConfigError` listing every schema violation, unknown keys first."""
    schema = load_schema(schema_path)
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (e.validator != "additionalProperties", list(e.absolute_path)))
    messages = _dedupe(_describe(error) for error in _leaves(errors))
    if not messages and isinstance(config, Mapping):
        messages = check_meaning(config)
    if messages:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {m}" for m in messages))


def check_meaning(config: Mapping[str, Any]) -> list[str]:
    """What a schema cannot say: every problem that would otherwise surface in a job, hours later."""
    problems: list[str] = []
    problems += _duplicates(config.get("seeds") or [], "seeds")
    for name, block in (config.get("experiments") or {}).items():
        where = f"experiments.{name}"
        if not SAFE_NAME.match(str(name)):
            problems.append(f"{where}: the experiment name {name!r} is not usable as a folder name "
                            "(use letters, digits, '.', '_' and '-', starting with a letter or digit)")
        methods = block.get("methods")
        for method in (methods if isinstance(methods, (Mapping, list)) else []):
            if not SAFE_NAME.match(str(method)):
                problems.append(f"{where}.methods: the method name {method!r} is not usable as a folder name "
                                "(use letters, digits, '.', '_' and '-', starting with a letter or digit)")
        problems += _duplicates(block.get("seeds") or [], f"{where}.seeds")
        problems += _dataset_problems(config, name, block)
    if not problems:
        problems += _unreached_experiments(config)
    return problems


def _duplicates(values: list[Any], where: str) -> list[str]:
    repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
    if repeated:
        return [f"{where}: seeds must be distinct, {', '.join(repeated)} repeated (a repeated seed would be "
                "counted twice in every mean and std)"]
    return []


def _dataset_problems(config: Mapping[str, Any], name: str, block: Mapping[str, Any]) -> list[str]:
    """Datasets resolve; ``classes`` and ``forget_class`` exist; forgetting leaves a retain set."""
    from unlearnbench.data.registry import known_labels
    from unlearnbench.experiments import get_kind

    where = f"experiments.{name}"
    try:
        datasets = [str(d) for d in get_kind(block["kind"]).datasets(block)]
    except (KeyError, ValueError, TypeError) as exc:
        return [f"{where}: {exc}"]
    problems = []
    for dataset in datasets:
        try:
            labels = known_labels(dataset, config.get("datasets"))
        except (KeyError, ValueError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            problems.append(f"{where}.dataset: {message}")
            continue
        classes = block.get("classes")
        if classes is not None and labels is not None:
            missing = [c for c in classes if c not in labels]
            if missing:
                problems.append(f"{where}.classes: {missing} not among the classes of dataset {dataset!r}: "
                                f"{list(labels)}")
                continue
        kept = list(classes) if classes is not None else (list(labels) if labels is not None else None)
        if classes is not None:
            problems += _duplicates_classes(classes, f"{where}.classes")
        if "forget_class" in block and kept is not None:
            forget = block["forget_class"]
            if forget not in kept:
                problems.append(f"{where}.forget_class: {forget!r} is not among the experiment's classes {kept}")
            elif len(set(map(str, kept))) == 1:
                problems.append(f"{where}.forget_class: forgetting {forget!r}, the only class of the experiment, "
                                "would leave nothing to retain")
    return problems


def _duplicates_classes(classes: list[Any], where: str) -> list[str]:
    repeated = sorted({str(c) for c in classes if list(classes).count(c) > 1})
    return [f"{where}: classes must be distinct, {', '.join(repeated)} repeated"] if repeated else []


def _unreached_experiments(config: Mapping[str, Any]) -> list[str]:
    """An experiment no artifact reads would silently drop out of the DAG."""
    from unlearnbench.artifacts import all_artifacts

    reached: set[str] = set()
    try:
        for artifact in all_artifacts():
            reached |= {spec.experiment for spec in artifact.runs(config)}
    except (KeyError, ValueError, TypeError) as exc:
        return [f"experiments: cannot list the runs of the artifacts: {exc}"]
    problems = []
    for name, block in (config.get("experiments") or {}).items():
        if name not in reached:
            declared = block.get("artifact")
            why = f"its artifact {declared!r} is no artifact that reads kind {block.get('kind')!r}" if declared else (
                "no artifact reads it")
            problems.append(f"experiments.{name}: {why}; it would silently drop out of the workflow "
                            "(`unlearnbench artifacts` lists the artifacts)")
    return problems


def _leaves(errors: list[jsonschema.ValidationError]) -> list[jsonschema.ValidationError]:
    """Descend into if/then and allOf wrappers so the message points at the real key."""
    out: list[jsonschema.ValidationError] = []
    for error in errors:
        if error.context:
            out.extend(_leaves(sorted(error.context, key=lambda e: list(e.absolute_path))))
        else:
            out.append(error)
    return out


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        parts = []
        for key in unknown:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            parts.append(f"unknown key '{key}' in {where}{suggestion}; allowed keys: {', '.join(allowed)}")
        return "; ".join(parts)
    if error.validator == "required":
        return f"{where}: {error.message}"
    return f"{where}: {error.message}"


def _dedupe(messages) -> list[str]:
    seen: list[str] = []
    for message in messages:
        if message not in seen:
            seen.append(message)
    return seen


def experiments_of_kind(config: Mapping[str, Any], kind: str) -> dict[str, Mapping[str, Any]]:
    """The experiment blocks of one kind, in config order."""
    return {name: block for name, block in config.get("experiments", {}).items() if block.get("kind") == kind}
