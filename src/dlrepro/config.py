"""Load params.yaml, validate it against workflow/schemas/params.schema.yaml, resolve overrides.

A section's values are its own keys, then `profiles[<active profile>]` merged over them, then
(for experiments) `variants[<variant>]` merged over the result. Overrides are checked by the
same schema definitions as the section, and the resolved values must be complete.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_RELPATH = Path("workflow/schemas/params.schema.yaml")
OVERRIDE_KEYS = ("profiles", "variants")


class ParamsError(ValueError):
    """params.yaml (or a value derived from it) is invalid; the message names file and key."""


def _read_yaml(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ParamsError(f"{what} not found: {path}")
    try:
        # libyaml's loader when PyYAML has it: every stage reads params.yaml and its schema.
        return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None


def schema_for(params_path: Path) -> dict:
    """The schema that lives beside params.yaml, at workflow/schemas/params.schema.yaml."""
    return _read_yaml(Path(params_path).parent / SCHEMA_RELPATH, "params schema")


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"{where}: unknown key {', '.join(map(repr, extra))} (allowed: {', '.join(allowed)})"
    if error.validator == "propertyNames":
        return f"{where}: {error.message}"
    return f"{where}: {error.message}"


def validate(params: Any, schema: dict, source: str) -> None:
    """Raise ParamsError listing every schema violation, each with its dotted key path."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors)
        raise ParamsError(f"{source}: invalid params:\n  {lines}")


def load_params(path: str | Path, schema: dict | None = None) -> dict:
    """Read and validate params.yaml."""
    path = Path(path)
    params = _read_yaml(path, "params file")
    validate(params, schema if schema is not None else schema_for(path), str(path))
    check_profile_variants(params, str(path))
    return params


def deep_merge(base: dict, override: dict) -> dict:
    """A copy of base with override merged in: nested dicts merge, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _require_complete(definition: dict, value: Any, path: str, defs: dict) -> None:
    if "$ref" in definition:
        definition = defs[definition["$ref"].rsplit("/", 1)[-1]]
    properties = definition.get("properties")
    if not properties or not isinstance(value, dict):
        return
    for key, sub in properties.items():
        if key in OVERRIDE_KEYS:
            continue
        if key not in value:
            raise ParamsError(f"{path}.{key}: missing (no value after merging profile and variant overrides)")
        _require_complete(sub, value[key], f"{path}.{key}", defs)


def resolve(params: dict, section: str, profile: str | None = None, variant: str | None = None,
            schema: dict | None = None) -> dict:
    """The values of one section for the active profile and, for experiments, one variant."""
    if section not in params:
        raise ParamsError(f"params: no section {section!r} (sections: {', '.join(sorted(params))})")
    profile = profile or params["profile"]
    raw = params[section]
    values = {k: v for k, v in raw.items() if k not in OVERRIDE_KEYS}
    values = deep_merge(values, raw.get("profiles", {}).get(profile, {}))
    variants = deep_merge(raw.get("variants", {}), raw.get("profiles", {}).get(profile, {}).get("variants", {}))
    values.pop("variants", None)
    if variant is not None:
        if variant not in raw.get("variants", {}):
            known = ", ".join(sorted(raw.get("variants", {}))) or "none"
            raise ParamsError(f"{section}: unknown variant {variant!r} (variants: {known})")
        values = deep_merge(values, variants[variant])
    for key in OVERRIDE_KEYS:
        if key in values:
            raise ParamsError(f"{section}: '{key}' may not be nested inside a profile or variant override")
    if schema is not None:
        _require_complete(schema["properties"][section], values, section, schema.get("$defs", {}))
    return values


def variants_of(params: dict, section: str) -> list[str]:
    """Variant names of an experiment, in params order (profiles may not add new ones)."""
    return list(params[section].get("variants", {}))


def check_profile_variants(params: dict, source: str) -> None:
    """Profiles may override variants but not add names: the DAG must not depend on the profile."""
    for section, raw in params.items():
        if not isinstance(raw, dict):
            continue
        known = set(raw.get("variants", {}))
        for profile, override in raw.get("profiles", {}).items():
            extra = set(override.get("variants", {})) - known
            if extra:
                raise ParamsError(f"{source}: {section}.profiles.{profile}.variants: unknown variant(s) "
                                  f"{', '.join(sorted(extra))} (variants: {', '.join(sorted(known))})")


class Params:
    """params.yaml, validated, with one active profile."""

    def __init__(self, path: str | Path, profile: str | None = None):
        self.path = Path(path)
        self.schema = schema_for(self.path)
        self.raw = load_params(self.path, self.schema)
        self.profile = profile or self.raw["profile"]
        profiles = self.schema["properties"]["profile"]["enum"]
        if self.profile not in profiles:
            raise ParamsError(f"unknown profile {self.profile!r} (profiles: {', '.join(profiles)})")

    def section(self, name: str, variant: str | None = None) -> dict:
        return resolve(self.raw, name, self.profile, variant, self.schema)
