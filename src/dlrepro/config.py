"""Load the params files, validate them against workflow/schemas/params.schema.yaml, resolve overrides.

params.yaml holds the shared values (profile, runtime, report); every other section lives in
params/<section>.yaml (dlrepro.registry.params_file), a file holding that one section. A
section's values are its own keys, then `profiles[<active profile>]` merged over them, then (for
experiments) `variants[<variant>]` merged over the result. Overrides are checked by the same
schema definitions as the section, and the resolved values must be complete.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dlrepro import registry

SCHEMA_RELPATH = Path("workflow/schemas/params.schema.yaml")
OVERRIDE_KEYS = ("profiles", "variants")


class ParamsError(ValueError):
    """A params file (or a value derived from it) is invalid; the message names file and key."""


def _read_yaml(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ParamsError(f"{what} not found: {path}")
    try:
        # libyaml's loader when PyYAML has it: every stage reads the params files and the schema.
        return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None


def schema_for(params_path: Path) -> dict:
    """The schema beside params.yaml; its required sections are the registry's."""
    schema = _read_yaml(Path(params_path).parent / SCHEMA_RELPATH, "params schema")
    schema["required"] = list(registry.SECTIONS)
    return schema


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"{where}: unknown key {', '.join(map(repr, extra))} (allowed: {', '.join(allowed)})"
    return f"{where}: {error.message}"


def validate(params: Any, schema: dict, files: dict[str, str] | None = None) -> None:
    """Raise ParamsError with one line per schema violation: its file, then its dotted key."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        files = files or {}
        # a section's file, or params.yaml (profile's) for what is not inside a section
        lines = [f"{files.get(str(next(iter(e.absolute_path), '')), files.get('profile', 'params'))}: {_describe(e)}"
                 for e in errors]
        raise ParamsError("\n".join(lines))


def read_params(path: str | Path) -> tuple[dict, dict[str, str]]:
    """params.yaml and every params/<section>.yaml beside it, merged; and each section's file."""
    path = Path(path)
    params = _read_yaml(path, "params file")
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping of sections")
    files = {section: str(path) for section in params}
    for section in registry.SECTIONS:
        name = registry.params_file(section)
        if name == registry.PARAMS:
            continue
        file = path.parent / name
        values = _read_yaml(file, f"params file of section {section!r}")
        if not isinstance(values, dict) or set(values) != {section}:
            found = ", ".join(map(str, values)) if isinstance(values, dict) else type(values).__name__
            raise ParamsError(f"{file}: must hold exactly the section {section!r} (found: {found})")
        if section in params:
            raise ParamsError(f"{path}: section {section!r} belongs in {file}")
        params[section] = values[section]
        files[section] = str(file)
    return params, files


def load_params(path: str | Path, schema: dict | None = None) -> dict:
    """Read and validate the params files."""
    params, files = read_params(path)
    validate(params, schema if schema is not None else schema_for(Path(path)), files)
    check_profile_variants(params, files)
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


def check_profile_variants(params: dict, files: dict[str, str]) -> None:
    """Profiles may override variants but not add names: the DAG must not depend on the profile."""
    for section, raw in params.items():
        if not isinstance(raw, dict):
            continue
        known = set(raw.get("variants", {}))
        for profile, override in raw.get("profiles", {}).items():
            extra = set(override.get("variants", {})) - known
            if extra:
                raise ParamsError(f"{files.get(section, 'params')}: {section}.profiles.{profile}.variants: unknown variant(s) "
                                  f"{', '.join(sorted(extra))} (variants: {', '.join(sorted(known))})")


class Params:
    """The params files, validated, with one active profile."""

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

    def check(self) -> None:
        """Resolve every section, and each of its variants, as the active profile's run will."""
        for section in registry.SECTIONS[1:]:
            for variant in variants_of(self.raw, section) or [None]:
                self.section(section, variant)
