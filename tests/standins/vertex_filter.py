"""List filters (https://google.aip.dev/160) and `orderBy` as Vertex AI's list calls take them.

Supported: comparisons `field OP value` with `=`, `!=`, `<`, `<=`, `>`, `>=` and `:` (has),
values quoted (`"a b"`) or bare (`ACTIVE`, `projects/p/...`), `*` as a wildcard in strings,
`labels.KEY=VALUE` and `labels.KEY:*`, `field:*` for presence, `AND`, `OR` (which binds tighter
than AND, as AIP-160 says), `NOT` / `-`, parentheses, and juxtaposition as AND. Field names are
snake_case or camelCase. A field the API does not support, an operator the field does not take,
an enum value that does not exist or a timestamp that is not RFC 3339 is a 400, as on Vertex.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from standins.vertex_errors import ApiError

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|!=|=|<|>|:)|(?P<paren>[()])'
    r'|(?P<word>[^\s()"=!<>:]+))'
)
_TIME_OPS = {"=", "!=", "<", "<=", ">", ">="}


class FilterError(ValueError):
    """A filter or orderBy the API refuses; the message names what is wrong."""


@dataclass(frozen=True)
class Filter:
    """A parsed filter: `matches(values)` with a resource's values by snake_case name."""

    test: Callable[[dict[str, Any]], bool]
    text: str = ""

    def matches(self, values: dict[str, Any]) -> bool:
        return self.test(values)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _error(message: str) -> ApiError:
    return ApiError(400, message)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _error(f"filter: cannot parse {text!r} at position {pos}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _time(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _error(
            f"filter: {field} must be compared with an RFC 3339 timestamp such as "
            f'"2024-05-18T00:00:00Z", got {value!r}'
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Parser:
    def __init__(self, text: str, fields: dict[str, str]):
        self.text = text
        self.fields = fields
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _error(f"filter: {self.text!r} ends too early")
        self.pos += 1
        return token

    def parse(self) -> Callable[[dict[str, Any]], bool]:
        test = self.conjunction()
        if self.peek() is not None:
            raise _error(f"filter: unexpected {self.peek()[1]!r} in {self.text!r}")
        return test

    def conjunction(self) -> Callable[[dict[str, Any]], bool]:
        parts = [self.disjunction()]
        while (token := self.peek()) is not None and token != ("paren", ")"):
            if token == ("word", "AND"):
                self.take()
            parts.append(self.disjunction())
        return lambda v: all(p(v) for p in parts)

    def disjunction(self) -> Callable[[dict[str, Any]], bool]:
        parts = [self.unary()]
        while self.peek() == ("word", "OR"):
            self.take()
            parts.append(self.unary())
        return lambda v: any(p(v) for p in parts)

    def unary(self) -> Callable[[dict[str, Any]], bool]:
        token = self.peek()
        if token == ("word", "NOT"):
            self.take()
            inner = self.unary()
            return lambda v: not inner(v)
        if token is not None and token[0] == "word" and token[1].startswith("-"):
            self.tokens[self.pos] = ("word", token[1][1:])
            inner = self.unary()
            return lambda v: not inner(v)
        if token == ("paren", "("):
            self.take()
            inner = self.conjunction()
            if self.take() != ("paren", ")"):
                raise _error(f"filter: missing ')' in {self.text!r}")
            return inner
        return self.comparison()

    def comparison(self) -> Callable[[dict[str, Any]], bool]:
        kind, name = self.take()
        if kind != "word":
            raise _error(f"filter: expected a field name, got {name!r} in {self.text!r}")
        op_kind, op = self.take()
        if op_kind != "op":
            raise _error(f"filter: expected an operator after {name!r}, got {op!r}")
        value_kind, raw = self.take()
        if value_kind == "string":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif value_kind == "word":
            value = raw
        else:
            raise _error(f"filter: expected a value after {name} {op}, got {raw!r}")
        path = [_snake(part) for part in name.split(".")]
        base = path[0]
        if base not in self.fields:
            allowed = ", ".join(sorted(self.fields))
            raise _error(f"filter: unsupported field {name!r}; supported fields: {allowed}")
        return _compare(base, path[1:], self.fields[base], op, value)


def _compare(
    field: str, rest: list[str], kind: str, op: str, value: str
) -> Callable[[dict[str, Any]], bool]:
    def get(values: dict[str, Any]) -> Any:
        found = values.get(field)
        for key in rest:
            found = found.get(key) if isinstance(found, dict) else None
        return found

    if kind == "map":
        if not rest:
            if op == ":":
                return lambda v: value in (get(v) or {}) or (value == "*" and bool(get(v)))
            raise _error(f"filter: {field} takes `{field}.KEY=VALUE` or `{field}.KEY:*`")
        kind = "string"
    if op == ":" and value == "*":
        return lambda v: get(v) not in (None, "", [], {})
    if kind == "list":
        if op not in {":", "="}:
            raise _error(f"filter: {field} takes `:` (contains), not {op!r}")
        return lambda v: any(fnmatch.fnmatchcase(item, value) for item in get(v) or [])
    if kind == "presence":
        raise _error(f"filter: {field} takes only the existence check `{field}:*`")
    if kind == "time":
        if op not in _TIME_OPS:
            raise _error(f"filter: {field} takes {', '.join(sorted(_TIME_OPS))}, not {op!r}")
        moment = _time(value, field)
        compare = {
            "=": lambda a: a == moment,
            "!=": lambda a: a != moment,
            "<": lambda a: a < moment,
            "<=": lambda a: a <= moment,
            ">": lambda a: a > moment,
            ">=": lambda a: a >= moment,
        }[op]
        return lambda v: get(v) is not None and compare(get(v))
    if kind.startswith("enum:"):
        names = kind[5:].split(",")
        if op not in {"=", "!="}:
            raise _error(f"filter: {field} takes = and !=, not {op!r}")
        if value not in names:
            raise _error(f"filter: {field} must be one of {', '.join(names)}, got {value!r}")
        if op == "=":
            return lambda v: get(v) == value
        return lambda v: get(v) != value
    if op not in {"=", "!=", ":"}:
        raise _error(f"filter: {field} takes =, != and :, not {op!r}")
    if op == "!=":
        return lambda v: not fnmatch.fnmatchcase(str(get(v) or ""), value)
    return lambda v: fnmatch.fnmatchcase(str(get(v) or ""), value)


def parse_filter(text: str, fields: dict[str, str]) -> Filter:
    """`text` parsed against the supported `fields` (name -> kind).

    Raises:
        ApiError: 400, naming what the API refuses.
    """
    if not text.strip():
        return Filter(lambda _values: True, "")
    return Filter(_Parser(text, fields).parse(), text)


def parse_order_by(text: str, allowed: set[str]) -> list[tuple[str, bool]]:
    """`[(field, descending), ...]` from `create_time desc, end_time`.

    Raises:
        ApiError: 400 for a field outside `allowed` or a direction other than asc/desc.
    """
    order = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = part.split()
        name = _snake(words[0])
        direction = words[1].lower() if len(words) > 1 else "asc"
        if name not in allowed:
            raise _error(
                f"order_by: unsupported field {words[0]!r}; supported fields: "
                f"{', '.join(sorted(allowed))}"
            )
        if len(words) > 2 or direction not in {"asc", "desc"}:
            raise _error(f"order_by: {part!r} must be FIELD, FIELD asc or FIELD desc")
        order.append((name, direction == "desc"))
    return order
