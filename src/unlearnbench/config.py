"""Load, validate and resolve a profile config.

The config is validated against the JSON Schemas shipped inside the package
(``unlearnbench/schemas``: ``profile.yaml``, one ``kinds/<kind>.yaml`` per experiment kind and
``newton.yaml``, the Newton settings every kind refers to; every object closed) before anything
runs, so a misspelt key fails at start-up with its name and path instead of being silently
ignored by a run hours later. They are read with :mod:`importlib.resources`, so an installed
package validates a config outside a checkout, and the workflow validates with the same files.
Then its meaning is checked (:func:`check_meaning`): names usable as path parts, known
datasets, classes and forget classes that exist, a retain set left after forgetting,
distinct seeds, and every experiment read by some artifact. Both run at ``validate-config``
and when the workflow starts, so a config that cannot work fails before any training.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: The quick profile of a checkout (``src/unlearnbench`` -> ``config/config.yaml``); an installed
#: package has no such file, so outside a checkout every command names its profile with ``--config``.
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.yaml"

#: Where the shipped schemas live in the package, and the base URI their ``$ref``s resolve
#: against. Every schema is in the registry :func:`load_schema` builds, so nothing is fetched
#: (``.invalid`` is a reserved name that no host answers to).
SCHEMA_PACKAGE, SCHEMA_FOLDER = "unlearnbench", "schemas"
SCHEMA_BASE = "https://unlearnbench.invalid/schemas/"
PROFILE_SCHEMA = "profile.yaml"

#: A ``referencing`` resolver (``Registry.resolver()``); the library does not export its class.
Resolver = Any

#: Experiment, method and dataset names become folder names and command-line arguments.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ConfigError(ValueError):
    """The config does not match the schema; the message names every offending key."""


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error is a :class:`ConfigError` naming the line."""
    try:
        with open(path, encoding="utf-8") as handle:
            return _parse_yaml(handle.read(), path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None


def _parse_yaml(text: str, where: str | Path) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML{at}: {problem}") from None


def shipped_schemas() -> dict[str, Any]:
    """Every schema file of the package by its path under ``schemas/`` (``kinds/cifar-zoo.yaml``)."""
    root = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FOLDER)
    return {name: _parse_yaml(entry.read_text(encoding="utf-8"), f"{SCHEMA_PACKAGE}/{SCHEMA_FOLDER}/{name}")
            for name, entry in sorted(_yaml_files(root, ""))}


def _yaml_files(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _yaml_files(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".yaml"):
            yield f"{prefix}{entry.name}", entry


def load_schema() -> tuple[dict[str, Any], Registry]:
    """The profile schema with one branch per experiment kind, and the registry its ``$ref``s resolve in.

    ``kinds/<kind>.yaml`` describes the experiment blocks of that kind; an experiment block is
    checked against the schema its ``kind`` selects, so errors point at the right keys. Each
    file is its own resource (URI: ``SCHEMA_BASE`` + its path), so a ``$ref`` names the file it
    points into (``../newton.yaml#/$defs/block``) and ``#/$defs/...`` stays within one file.
    """
    documents = shipped_schemas()
    kinds = [name.removeprefix("kinds/").removesuffix(".yaml") for name in documents if name.startswith("kinds/")]
    schema = {**documents.pop(PROFILE_SCHEMA), "$id": SCHEMA_BASE + PROFILE_SCHEMA}
    schema["$defs"] = {
        **schema.get("$defs", {}),
        "experiment": {
            "type": "object",
            "required": ["kind"],
            "properties": {"kind": {"enum": kinds}},
            "allOf": [
                {"if": {"properties": {"kind": {"const": kind}}}, "then": {"$ref": f"kinds/{kind}.yaml"}}
                for kind in kinds
            ],
        },
    }
    registry = Registry().with_resources(
        (SCHEMA_BASE + name, DRAFT202012.create_resource(document))
        for name, document in [(PROFILE_SCHEMA, schema), *documents.items()]
    )
    return schema, registry


def default_config() -> Path:
    """The checkout's quick profile, or a :class:`ConfigError` naming it and ``--config`` when it is absent.

    Inside a checkout the quick profile is the default; an installed package has no
    ``config/`` folder beside it, and guessing another file would run the wrong profile.
    """
    if not DEFAULT_CONFIG.is_file():
        raise ConfigError(
            f"no config given, and the default profile {DEFAULT_CONFIG} does not exist (it is part of a "
            "checkout of unlearnbench, not of the installed package): pass --config <profile.yaml>"
        )
    return DEFAULT_CONFIG


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Read a profile file (None: :func:`default_config`) and validate it; the result is what
    Snakemake's ``config`` holds."""
    config = load_yaml(path or default_config())
    validate_config(config)
    return config


def validate_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` listing every schema violation, unknown keys first."""
    schema, registry = load_schema()
    validator = jsonschema.validators.validator_for(schema)(schema, registry=registry)
    errors = sorted(validator.iter_errors(config), key=lambda e: (e.validator not in CLOSED, list(e.absolute_path)))
    messages = _dedupe(_describe(error, registry) for error in _leaves(errors))
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


#: The keywords that close an object: an error of one names unknown keys.
CLOSED = ("additionalProperties", "unevaluatedProperties")


def _describe(error: jsonschema.ValidationError, registry: Registry) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator in CLOSED:
        allowed = sorted(_allowed_keys(error.schema, _resolver_of(error.schema, registry)))
        unknown = sorted(set(error.instance) - set(allowed), key=str)
        parts = []
        for key in unknown:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            parts.append(f"unknown key '{key}' in {where}{suggestion}; allowed keys: {', '.join(allowed)}")
        return "; ".join(parts)
    return f"{where}: {error.message}"


def _resolver_of(node: Mapping[str, Any], registry: Registry) -> Resolver:
    """The resolver of the schema file that holds ``node``: its relative ``$ref`` resolves from there."""
    for uri in registry:
        if _holds(registry[uri].contents, node):
            return registry.resolver(uri)
    raise LookupError("a schema that no shipped schema file holds")


def _holds(tree: Any, node: Any) -> bool:
    if tree is node:
        return True
    children = tree.values() if isinstance(tree, Mapping) else tree if isinstance(tree, list) else ()
    return any(_holds(child, node) for child in children)


def _allowed_keys(schema: Mapping[str, Any], resolver: Resolver) -> set[str]:
    """The keys an object may hold under ``schema``: its own ``properties`` and those of its ``$ref``."""
    allowed = set(schema.get("properties", {}))
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        allowed |= _allowed_keys(resolved.contents, resolved.resolver)
    return allowed


def _dedupe(messages) -> list[str]:
    seen: list[str] = []
    for message in messages:
        if message not in seen:
            seen.append(message)
    return seen


def experiments_of_kind(config: Mapping[str, Any], kind: str) -> dict[str, Mapping[str, Any]]:
    """The experiment blocks of one kind, in config order."""
    return {name: block for name, block in config.get("experiments", {}).items() if block.get("kind") == kind}
