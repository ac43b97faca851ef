"""Where a task's inputs come from: its DAG's inputs, sibling tasks' outputs, constants, the
final status of an exit handler's body, and the outputs a DAG exposes (including `dsl.OneOf`,
over parameters and over artifacts, and `dsl.Collected` over a `ParallelFor`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vtp.errors import VtpError


class InputError(VtpError, ValueError):
    """An input that has no value (its producer was skipped or failed)."""


#: What an expression selector of a `ParallelFor` item may be.
_SELECTOR = re.compile(r'^parseJson\(string_value\)((?:\[(?:"[^"]*"|\d+)\])*)$')
_SUBSCRIPT = re.compile(r'\[(?:"([^"]*)"|(\d+))\]')


def check_selector(expression: str) -> None:
    """Refuses an expression selector this module cannot evaluate."""
    if expression != "string_value" and not _SELECTOR.match(expression):
        raise InputError(
            f"parameter expression selector {expression!r} cannot be evaluated locally "
            '(supported: parseJson(string_value)["field"]...)'
        )


def select(value: Any, expression: str) -> Any:
    """`parseJson(string_value)["a"]` applied to a loop item (a dict, or its JSON text)."""
    if expression == "string_value":
        return value if isinstance(value, str) else json.dumps(value)
    match = _SELECTOR.match(expression)
    if match is None:
        check_selector(expression)
    item = json.loads(value) if isinstance(value, str) else value
    for key, index in _SUBSCRIPT.findall(match.group(1)):
        try:
            item = item[int(index)] if index else item[key]
        except (KeyError, IndexError, TypeError):
            raise InputError(
                f"loop item {value!r} has no {key or index!r} ({expression})"
            ) from None
    return item


@dataclass
class Produced:
    """A producer's state and outputs, as a consumer sees them."""

    ok: bool
    state: str
    params: Mapping[str, Any]
    artifacts: Mapping[str, Any]
    error: str = ""


_ABSENT = object()


def resolve_inputs(
    inputs: Mapping[str, Any],
    *,
    scope_params: Mapping[str, Any],
    scope_artifacts: Mapping[str, Any],
    producer: Callable[[str], Produced],
    final_status: Callable[[str], dict],
    optional: Callable[[str], bool],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A task's parameter and artifact values from its `inputs` spec.

    Raises:
        InputError: a required input has no value.
    """
    params: dict[str, Any] = {}
    for name, spec in (inputs.get("parameters") or {}).items():
        value = _parameter(name, spec, scope_params, producer, final_status)
        if value is _ABSENT:
            if optional(name):
                continue
            raise InputError(_why(name, spec, producer))
        params[name] = value
    artifacts: dict[str, Any] = {}
    for name, spec in (inputs.get("artifacts") or {}).items():
        value = _artifact(spec, scope_artifacts, producer)
        if value is _ABSENT:
            if optional(name):
                continue
            raise InputError(_why(name, spec, producer))
        artifacts[name] = value
    return params, artifacts


def _parameter(name, spec, scope_params, producer, final_status) -> Any:
    if "runtimeValue" in spec:
        runtime = spec["runtimeValue"]
        if "constant" not in runtime:
            raise InputError(f"input {name!r}: runtime value {runtime!r} is not a constant")
        return runtime["constant"]
    if "componentInputParameter" in spec:
        value = scope_params.get(spec["componentInputParameter"], _ABSENT)
        if value is _ABSENT:
            value = _loop_subvar(spec["componentInputParameter"], scope_params)
        selector = spec.get("parameterExpressionSelector")
        if value is not _ABSENT and selector:
            value = select(value, selector)
        return value
    if "taskOutputParameter" in spec:
        ref = spec["taskOutputParameter"]
        produced = producer(ref["producerTask"])
        if not produced.ok:
            return _ABSENT
        return produced.params.get(ref["outputParameterKey"], _ABSENT)
    if "taskFinalStatus" in spec:
        return final_status(spec["taskFinalStatus"]["producerTask"])
    raise InputError(f"input {name!r} has an input kind this orchestrator does not know: {spec}")


_SUBVAR = re.compile(r"^(.*-loop-item)-subvar-([^-]+)$")


def _loop_subvar(name: str, scope_params: Mapping[str, Any]) -> Any:
    """`X-loop-item-subvar-F`: field F of the loop item `X-loop-item`. KFP's compiler names a
    loop item's field so when the field is used inside a list or a dict (elsewhere it reads
    the item with a `parseJson(string_value)["F"]` selector)."""
    match = _SUBVAR.match(name)
    if match is None or match.group(1) not in scope_params:
        return _ABSENT
    return select(scope_params[match.group(1)], f'parseJson(string_value)["{match.group(2)}"]')


def _artifact(spec, scope_artifacts, producer) -> Any:
    if "componentInputArtifact" in spec:
        return scope_artifacts.get(spec["componentInputArtifact"], _ABSENT)
    if "taskOutputArtifact" in spec:
        ref = spec["taskOutputArtifact"]
        produced = producer(ref["producerTask"])
        if not produced.ok:
            return _ABSENT
        return produced.artifacts.get(ref["outputArtifactKey"], _ABSENT)
    raise InputError(f"an artifact input kind this orchestrator does not know: {spec}")


def _why(name: str, spec: Mapping[str, Any], producer: Callable[[str], Produced]) -> str:
    for kind in ("taskOutputParameter", "taskOutputArtifact"):
        if kind in spec:
            ref = spec[kind]
            produced = producer(ref["producerTask"])
            key = ref.get("outputParameterKey") or ref.get("outputArtifactKey")
            if not produced.ok:
                return (
                    f"input {name!r} comes from output {key!r} of task "
                    f"{ref['producerTask']!r}, which is {produced.state.lower()}"
                )
            return f"input {name!r}: task {ref['producerTask']!r} has no output {key!r}"
    source = spec.get("componentInputParameter") or spec.get("componentInputArtifact")
    return f"input {name!r} has no value (from {source!r}, which was not given)"


def dag_outputs(
    outputs: Mapping[str, Any], producer: Callable[[str], Produced]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outputs a DAG exposes; an output whose producers all were skipped has none.

    Raises:
        InputError: a `dsl.OneOf` with more than one branch that produced a value.
    """
    params: dict[str, Any] = {}
    for name, spec in (outputs.get("parameters") or {}).items():
        if "valueFromParameter" in spec:
            selectors = [spec["valueFromParameter"]]
        else:
            selectors = list((spec.get("valueFromOneof") or {}).get("parameterSelectors") or [])
        found = _select(name, selectors, producer, "outputParameterKey", "params")
        if found is not _ABSENT:
            params[name] = found
    artifacts: dict[str, Any] = {}
    for name, spec in (outputs.get("artifacts") or {}).items():
        selectors = list(spec.get("artifactSelectors") or [])
        found = _select(name, selectors, producer, "outputArtifactKey", "artifacts")
        if found is not _ABSENT:
            artifacts[name] = found
    return params, artifacts


def _select(name, selectors, producer, key_field, kind) -> Any:
    values = []
    for selector in selectors:
        produced = producer(selector["producerSubtask"])
        if produced.ok:
            value = getattr(produced, kind).get(selector[key_field], _ABSENT)
            if value is not _ABSENT:
                values.append((selector["producerSubtask"], value))
    if len(values) > 1 and len(selectors) > 1:
        raise InputError(
            f"dsl.OneOf output {name!r}: more than one branch produced a value "
            f"({', '.join(task for task, _ in values)})"
        )
    return values[0][1] if values else _ABSENT
