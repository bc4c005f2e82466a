"""Load, validate and resolve a profile config.

The config is validated against ``config/schema.yaml`` (JSON Schema, every object closed
with ``additionalProperties: false``) before anything runs, so a misspelt key fails at
start-up with its name and path instead of being silently ignored by a run hours later.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = REPO_ROOT / "config" / "schema.yaml"
KIND_SCHEMAS = REPO_ROOT / "config" / "schema"  # one file per experiment kind: <kind>.yaml
DEFAULT_CONFIG = REPO_ROOT / "config" / "config.yaml"


class ConfigError(ValueError):
    """The config does not match the schema; the message names every offending key."""


def load_yaml(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


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
    if messages:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {m}" for m in messages))


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
