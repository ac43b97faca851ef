"""Shared pieces of the Vertex AI stand-in: Google-style API errors, the request record,
timestamps, ids, resource-name checks, and filtered, ordered, paged listing."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from standins.vertex_errors import ApiError, invalid
from standins.vertex_filter import Filter, parse_filter, parse_order_by


@dataclass
class RecordedRequest:
    """One request the stand-in answered.

    Attributes:
        method: `GET`, `POST`, `PATCH` or `DELETE`.
        path: The URL path, percent-decoded, without the query (`/v1/projects/...`).
        query: The query parameters (each a list of values), `$alt` included.
        body: The JSON body, or None.
        message: The body (or the request) decoded into its `aiplatform_v1` message, when the
            route decodes one (e.g. `aiplatform_v1.PipelineJob` for a create).
        status: The HTTP status answered.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any = None
    message: Any = None
    status: int = 0


@dataclass
class Call:
    """What a route handler receives."""

    method: str
    version: str  # "v1" or "v1beta1"
    path: str  # without the version prefix
    params: dict[str, str]
    query: dict[str, list[str]]
    text: str
    record: RecordedRequest
    int_enums: bool = True

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> dict[str, Any]:
        if not self.text.strip():
            return {}
        try:
            body = json.loads(self.text)
        except ValueError as err:
            raise ApiError(400, f"Invalid JSON payload received. {err}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid JSON payload received. Expected an object.")
        self.record.body = body
        return body


def now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def numeric_id(seed: str) -> str:
    """A stable 19-digit id, as Vertex gives schedules, models and operations."""
    digest = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    return str(10**18 + digest % (9 * 10**18))


def parse_message(message_type, text: str, where: str):
    """`text` (JSON) decoded strictly into `message_type`: unknown fields are refused."""
    try:
        return message_type.from_json(text or "{}", ignore_unknown_fields=False)
    except Exception as err:  # json_format.ParseError and friends
        detail = " ".join(str(err).split())
        unknown = re.search(r'has no field named "([^"]+)" at "([^"]*)"', detail)
        if unknown:  # Google's wording
            inner = unknown[2].partition(".")[2]
            at = ".".join([where, *(snake(part) for part in inner.split(".") if part)])
            message = f"Unknown name \"{unknown[1]}\" at '{at}': Cannot find field."
        else:
            message = f"at '{where}': {detail}"
        raise ApiError(400, f"Invalid JSON payload received. {message}") from None


def to_json(message, int_enums: bool = True) -> dict[str, Any]:
    """A proto-plus message as its REST JSON (camelCase)."""
    return json.loads(type(message).to_json(message, use_integers_for_enums=int_enums, indent=0))


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def apply_read_mask(body: dict[str, Any], mask: str) -> dict[str, Any]:
    """`body` reduced to the comma-separated field paths of a `readMask`."""
    if not mask:
        return body
    kept: dict[str, Any] = {}
    for path in filter(None, (p.strip() for p in mask.split(","))):
        source, target = body, kept
        parts = [camel(part) for part in path.split(".")]
        for i, part in enumerate(parts):
            if not isinstance(source, dict) or part not in source:
                break
            if i == len(parts) - 1:
                target[part] = source[part]
            else:
                source = source[part]
                target = target.setdefault(part, {})
    return kept


def list_page(
    call: Call,
    items: Iterable[Any],
    *,
    fields: Callable[[Any], dict[str, Any]],
    filter_fields: dict[str, str],
    order_fields: Iterable[str],
    default_order: str,
    page_size: int,
) -> tuple[list[Any], str]:
    """One page of `items`: filtered (AIP-160), ordered and paged as the request asks.

    Args:
        call: The list request (`filter`, `orderBy`, `pageSize`, `pageToken`).
        items: Every resource under the parent.
        fields: A resource's filterable values by snake_case field name.
        filter_fields: The filter fields the API supports, each with its kind
            (`string`, `enum:<ENUM NAMES,...>`, `time`, `map`, `list`, `presence`).
        order_fields: The `orderBy` fields the API supports.
        default_order: The order without `orderBy`.
        page_size: The page size without `pageSize`.

    Returns:
        The page and the next page token ("" on the last page).
    """
    expression = call.arg("filter")
    order_by = call.arg("orderBy") or call.arg("order_by")
    flt: Filter = parse_filter(expression, filter_fields)
    order = parse_order_by(order_by or default_order, set(order_fields))
    size_text = call.arg("pageSize") or call.arg("page_size")
    try:
        size = int(size_text) if size_text else page_size
    except ValueError:
        raise invalid("page_size", size_text, "must be an integer") from None
    if size < 0:
        raise invalid("page_size", size, "must be >= 0")
    size = size or page_size
    matched = [item for item in items if flt.matches(fields(item))]
    for name, descending in reversed(order):
        matched.sort(key=lambda item, n=name: _sort_key(fields(item).get(n)), reverse=descending)
    scope = hashlib.sha256(f"{expression}\0{order_by}".encode()).hexdigest()[:12]
    token = call.arg("pageToken") or call.arg("page_token")
    start = 0
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            start, token_scope = int(decoded["o"]), decoded["s"]
        except (ValueError, KeyError, TypeError):
            raise invalid("page_token", token, "must be a next_page_token of this list") from None
        if token_scope != scope:
            raise invalid(
                "page_token",
                token,
                "belongs to a list with another filter or order_by; repeat them unchanged",
            )
    page = matched[start : start + size]
    following = ""
    if start + size < len(matched):
        following = base64.urlsafe_b64encode(
            json.dumps({"o": start + size, "s": scope}).encode()
        ).decode()
    return page, following


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None or value == "":
        return (0, "")
    if isinstance(value, datetime):
        return (1, value.timestamp())
    return (1, value)


#: `projects/P/locations/L`, as route patterns start.
LOCATION = r"projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)"
#: One resource id segment.
ID = r"[^/:]+"


@dataclass(frozen=True)
class Route:
    """`method` + `pattern` (a regex over the path after `/v1/`) answered by `handler`, which
    takes these `query` parameters besides `$alt`."""

    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Call], Any]
    query: frozenset[str] = frozenset()


def route(method: str, pattern: str, handler: Callable[[Call], Any], *query: str) -> Route:
    return Route(method, re.compile(pattern), handler, frozenset(query))


def decode(call: Call, message_type, where: str):
    """The request body decoded strictly into the `aiplatform_v1` `message_type`.

    A v1beta1 request is decoded strictly with the v1beta1 type of the same name, then
    carried over to v1 (fields only v1beta1 has are dropped).
    """
    body = call.json()
    text = json.dumps(body)
    if call.version == "v1beta1":
        from google.cloud import aiplatform_v1beta1

        beta = parse_message(getattr(aiplatform_v1beta1, message_type.__name__), text, where)
        text = type(beta).to_json(beta)
        message = message_type.from_json(text, ignore_unknown_fields=True)
    else:
        message = parse_message(message_type, text, where)
    call.record.message = message
    return message
