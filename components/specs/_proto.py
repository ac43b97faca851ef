"""Validation against the `google.cloud.aiplatform_v1` protos (its types imported on first use,
without the API's service clients: `vtp.aiplatform_types`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from vtp.components.specs._validate import snake
from vtp.errors import SpecError

_AT = re.compile(r' at "?[A-Za-z]\w*((?:\.\w+|\[\d+\])*)')
_SEGMENT = re.compile(r"\.(\w+)|\[(\d+)\]")
_NO_FIELD = re.compile(r'has no field named "([^"]+)"')
_AVAILABLE = re.compile(r"Available Fields\(except extensions\): \"\[(.*?)\]\"")
_FAILED = re.compile(r"Failed to parse (\w+) field: ")
_MISSING = object()


def check_message(
    type_name: str, payload: Mapping[str, Any], path: str = "", drop: Sequence[str] = ()
) -> None:
    """Parse `payload` (proto JSON, snake_case or camelCase) into `aiplatform_v1.<type_name>`.

    Args:
        type_name: message name in `google.cloud.aiplatform_v1`, e.g. "WorkerPoolSpec".
        payload: the dict to parse.
        path: field path of `payload` in error messages, e.g. "worker_pool_specs[1]".
        drop: leading field names left out of error paths (e.g. "job_spec").

    Raises:
        SpecError: naming the field the proto parser refused, its value and the reason.
    """
    from google.protobuf import json_format

    from vtp.aiplatform_types import message as api_message

    message = api_message(type_name).pb()()
    try:
        json_format.ParseDict(payload, message)
    except (json_format.ParseError, TypeError, AttributeError) as err:
        raise _to_spec_error(str(err), type_name, payload, path, drop) from None


def _to_spec_error(
    text: str, type_name: str, payload: Any, path: str, drop: Sequence[str]
) -> SpecError:
    segments: list[str | int]
    located = _AT.findall(text)
    if located:
        segments = [int(index) if index else name for name, index in _SEGMENT.findall(located[-1])]
    else:
        segments = list(_FAILED.findall(text))
    unknown = _NO_FIELD.search(text)
    if unknown:
        segments.append(unknown[1])
    value = _lookup(payload, segments)
    while segments and segments[0] in drop:
        segments.pop(0)
    field = path
    for segment in segments:
        if isinstance(segment, int):
            field += f"[{segment}]"
        else:
            field += f".{snake(segment)}" if field else snake(segment)
    reason = _FAILED.split(text)[-1].split("\n")[0]
    reason = re.split(r' at "?[A-Za-z]\w*(?:\.\w+|\[\d+\])*"?', reason)[0].rstrip(". ")
    available = _AVAILABLE.search(text)
    if available:
        names = [snake(n.strip(" '")) for n in available[1].split(",")]
        reason += f"; fields: {', '.join(names)}"
    return SpecError(
        field or type_name,
        None if value is _MISSING else value,
        f"must be accepted by google.cloud.aiplatform.v1.{type_name} ({reason})",
    )


def _lookup(payload: Any, segments: Sequence[str | int]) -> Any:
    node = payload
    for segment in segments:
        if isinstance(segment, int):
            if not isinstance(node, list | tuple) or segment >= len(node):
                return _MISSING
            node = node[segment]
        elif isinstance(node, Mapping) and segment in node:
            node = node[segment]
        else:
            return _MISSING
    return node
