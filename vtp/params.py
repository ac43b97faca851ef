"""Pipeline parameters: typed from `--param NAME=VALUE` / `--params FILE`, checked before a run."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from vtp.errors import VtpError


class ParameterError(VtpError, ValueError):
    """A pipeline parameter that is unknown, missing or of the wrong type."""


#: KFP input type -> (python types accepted, description)
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "String": ((str,), "a string"),
    "Integer": ((int,), "an integer"),
    "Float": ((float, int), "a number"),
    "Boolean": ((bool,), "true or false"),
    "List": ((list,), "a list (JSON or YAML, e.g. [1, 2])"),
    "Dict": ((dict,), 'a mapping (JSON or YAML, e.g. {"a": 1})'),
}


def declared_inputs(pipeline) -> dict[str, Any]:
    """Name -> kfp InputSpec of a pipeline's parameters, each default of its declared type.

    A compiled YAML stores every number as a JSON double (`defaultValue: 2.0`, parameter type
    NUMBER_INTEGER), and kfp reads it back as a float: an Integer parameter's default is made
    an int again here, so a pipeline's own defaults pass the checks they passed in Python.
    """
    out = {}
    for name, spec in (pipeline.component_spec.inputs or {}).items():
        if spec.type == "Integer" and _whole_float(spec.default):
            spec = dataclasses.replace(spec, default=int(spec.default))
        out[name] = spec
    return out


def _whole_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def parse_assignments(items: list[str]) -> dict[str, str]:
    """`["a=1", "b=x=y"]` -> `{"a": "1", "b": "x=y"}`."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--param {item!r} must look like NAME=VALUE")
        out[name.strip()] = value
    return out


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Parameters from a YAML (or JSON) mapping."""
    p = Path(path)
    if not p.is_file():
        problem = "is not a file" if p.exists() else "does not exist"
        raise ParameterError(f"--params file {str(p)!r} {problem}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as err:
        raise ParameterError(f"--params file {str(p)!r} cannot be read: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or err
        raise ParameterError(
            f"--params file {str(p)!r} is not valid YAML or JSON{where}: {problem}"
        ) from None
    if not isinstance(data, dict):
        raise ParameterError(f"--params file {str(p)!r} must hold a mapping of NAME: VALUE")
    return data


def _from_text(name: str, kind: str, text: str) -> Any:
    if kind == "String":
        return text
    try:
        if kind == "Integer":
            return int(text)
        if kind == "Float":
            return float(text)
        if kind == "Boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError(text)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        raise ParameterError(
            f"parameter {name!r} must be {_TYPES[kind][1]}, got {text!r}"
        ) from None


def resolve(
    pipeline,
    *,
    assignments: Mapping[str, str] | None = None,
    file_values: Mapping[str, Any] | None = None,
    fallbacks: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Typed parameters for `pipeline`: file values, then `--param` over them.

    `fallbacks` fill required parameters nobody set (e.g. a local project id). Unknown names,
    values of the wrong type and missing required parameters raise ParameterError.
    """
    inputs = declared_inputs(pipeline)
    known = ", ".join(sorted(inputs))
    values: dict[str, Any] = {}
    for source, given in (("file", file_values or {}), ("param", assignments or {})):
        for name, raw in given.items():
            if name not in inputs:
                raise ParameterError(f"unknown parameter {name!r}; the pipeline takes: {known}")
            kind = inputs[name].type
            value = (
                _from_text(name, kind, raw) if source == "param" and isinstance(raw, str) else raw
            )
            if kind == "Integer" and _whole_float(value):  # `3.0` from a YAML or JSON file
                value = int(value)
            accepted, description = _TYPES.get(kind, ((object,), kind))
            if (isinstance(value, bool) and kind != "Boolean") or not isinstance(value, accepted):
                raise ParameterError(f"parameter {name!r} must be {description}, got {value!r}")
            values[name] = float(value) if kind == "Float" else value
    for name, spec in inputs.items():
        if name not in values and not spec.optional:
            if fallbacks and name in fallbacks:
                values[name] = fallbacks[name]
            else:
                raise ParameterError(f"parameter {name!r} is required (--param {name}=...)")
    return values


def effective(pipeline, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` completed with the pipeline's declared defaults."""
    out = {name: spec.default for name, spec in declared_inputs(pipeline).items() if spec.optional}
    out.update(values)
    return out
