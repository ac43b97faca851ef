"""Field checks shared by the payload builders. Every failure is a `SpecError`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from vtp.errors import SpecError

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_DURATION = re.compile(r"^(\d+)(?:\.(\d{1,9}))?s$")
DURATION_ALLOWED = (
    'must be a protobuf Duration string such as "3600s" or "3.5s" (at most 9 decimals), '
    "a datetime.timedelta or int seconds"
)


class FrozenMap(Mapping[str, str]):
    """A read-only, hashable mapping that keeps insertion order (env, labels)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None):
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)


def snake(name: str) -> str:
    """`replicaCount` -> `replica_count`; snake_case names pass unchanged."""
    return _CAMEL.sub("_", name).lower()


def rebase_error(err: SpecError, root: str, new_root: str) -> SpecError:
    """The same error with a leading `root` path segment replaced by `new_root`."""
    field = err.field
    if field == root or field.startswith((root + ".", root + "[")):
        field = new_root + field[len(root) :]
    return SpecError(field, err.value, err.allowed)


@contextmanager
def rebased(root: str, new_root: str) -> Iterator[None]:
    """Re-raise `SpecError`s of a nested builder under their full path."""
    try:
        yield
    except SpecError as err:
        raise rebase_error(err, root, new_root) from None


def check_bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise SpecError(field, value, "must be True or False")
    return value


def check_int(field: str, value: object, minimum: int = 0, maximum: int | None = None) -> int:
    """An int (not a bool) within [minimum, maximum]."""
    allowed = f"must be an integer >= {minimum}"
    if maximum is not None:
        allowed = f"must be an integer from {minimum} to {maximum}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, value, allowed)
    if value < minimum or (maximum is not None and value > maximum):
        raise SpecError(field, value, allowed)
    return value


def check_str(field: str, value: object, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise SpecError(field, value, "must be a string")
    if required and not value.strip():
        raise SpecError(field, value, "must be a non-empty string")
    return value


def check_choice(field: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SpecError(field, value, f"must be one of {', '.join(choices)}")
    return value


def check_pattern(field: str, value: object, pattern: re.Pattern[str], allowed: str) -> str:
    """A string matching `pattern`; the empty string is accepted (field unset)."""
    text = check_str(field, value)
    if text and not pattern.fullmatch(text):
        raise SpecError(field, value, allowed)
    return text


def str_tuple(field: str, value: object) -> tuple[str, ...]:
    """A sequence of strings as a tuple; a bare string is refused (a common slip)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise SpecError(field, value, "must be a sequence of strings")
    for i, item in enumerate(value):
        check_str(f"{field}[{i}]", item)
    return tuple(value)


def str_map(field: str, value: object) -> FrozenMap:
    if not isinstance(value, Mapping):
        raise SpecError(field, value, "must be a mapping of strings to strings")
    for key, item in value.items():
        check_str(f"{field} key", key, required=True)
        check_str(f"{field}[{key!r}]", item)
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def duration(field: str, value: object, *, allow_zero: bool) -> str:
    """A Duration JSON string from a string, a timedelta or int seconds, checked >= 0 (or > 0)."""
    bound = ">= 0" if allow_zero else "> 0"
    allowed = f"{DURATION_ALLOWED}, {bound}"
    if isinstance(value, timedelta):
        micros = value // timedelta(microseconds=1)
        if micros < 0:
            raise SpecError(field, value, allowed)
        seconds, fraction = divmod(micros, 1_000_000)
        text = f"{seconds}.{fraction:06d}".rstrip("0").rstrip(".") + "s"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value}s"
    elif isinstance(value, str):
        text = value
    else:
        raise SpecError(field, value, allowed)
    match = _DURATION.fullmatch(text)
    if not match:
        raise SpecError(field, value, allowed)
    if not allow_zero and int(match[1]) == 0 and not (match[2] or "").strip("0"):
        raise SpecError(field, value, allowed)
    return text


def _label_chars_ok(text: str) -> bool:
    return all((c.isalpha() and not c.isupper()) or c.isdigit() or c in "_-" for c in text)


def check_labels(field: str, value: object) -> FrozenMap:
    """Vertex label rules: at most 64; keys start with a lowercase letter; keys and values hold
    lowercase letters, digits, `_` and `-`, at most 63 characters (international letters are
    allowed, as on Vertex)."""
    labels = str_map(field, value)
    if len(labels) > 64:
        raise SpecError(field, f"{len(labels)} labels", "must hold at most 64 labels")
    for key, item in labels.items():
        first = key[0]
        if (
            len(key) > 63
            or not (first.isalpha() and not first.isupper())
            or not _label_chars_ok(key)
        ):
            raise SpecError(
                f"{field} key",
                key,
                "must start with a lowercase letter and hold only lowercase letters, digits, "
                "_ and - (at most 63 characters)",
            )
        if len(item) > 63 or not _label_chars_ok(item):
            raise SpecError(
                f"{field}[{key!r}]",
                item,
                "must hold only lowercase letters, digits, _ and - (at most 63 characters)",
            )
    return labels


def json_fields(
    value: object, path: str, allowed: Sequence[str], required: Sequence[str] = ()
) -> dict[str, Any]:
    """`value` as a dict with snake_case keys, refusing unknown and missing keys."""
    if not isinstance(value, Mapping):
        raise SpecError(path, value, "must be a mapping (a JSON object)")
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = snake(str(key))
        if name not in allowed:
            raise SpecError(path, key, f"fields must be among {', '.join(allowed)}")
        if name in out:
            raise SpecError(path, key, "must not give a field twice (camelCase and snake_case)")
        out[name] = item
    for name in required:
        if name not in out:
            raise SpecError(f"{path}.{name}", None, "is required")
    return out


def json_int(path: str, value: object) -> int:
    """An integral int, float (`2.0`) or digit string (`"2"`) as an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise SpecError(path, value, "must be an integer")


def json_list(path: str, value: object) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise SpecError(path, value, "must be a list")
    return value
