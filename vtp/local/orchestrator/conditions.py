"""The trigger conditions KFP compiles (`dsl.If` / `Elif` / `Else`), parsed and evaluated as
CEL expressions, the language Vertex AI Pipelines evaluates them in.

KFP's compiler writes a small subset of CEL (`kfp.compiler.pipeline_spec_builder`,
`_single_binary_operation_to_cel_condition`): operands `inputs.parameter_values['NAME']`,
string / int / double / bool literals and the conversions `int(...)`, `double(...)`; the
comparisons `== != < <= > >=`; `&&` between the operations of one branch and `!( ... )` for
the branches before it. This module parses that subset (plus `||`, parentheses and `string()`)
into a tree when the pipeline is loaded, so a condition that is not CEL of this form is refused
before anything runs, and evaluates the tree with CEL's rules when the task is reached:

- no implicit conversion between strings and numbers or booleans (comparing `'1'` with `1` is
  an error, as it is for CEL's "no matching overload");
- ints and doubles compare numerically with each other (CEL's heterogeneous numeric
  comparison); `int(x)` truncates a double towards zero and parses a string, `double(x)` and
  `string(x)` convert;
- a parameter the condition names that has no value is an error.

An error is raised as `ConditionError`; the orchestrator fails the task with it. A condition
is never treated as false because it could not be evaluated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vtp.errors import VtpError


class ConditionError(VtpError, ValueError):
    """A trigger condition that cannot be parsed or evaluated."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].,])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_FUNCTIONS = ("int", "double", "string")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ConditionError(f"unexpected character {text[pos:].strip()[0]!r} at {pos}")
        kind = match.lastgroup or ""
        out.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return out


# The tree: ("lit", value) | ("param", name) | ("call", fn, node) | ("not", node)
#           | ("and", left, right) | ("or", left, right) | ("cmp", op, left, right)
Node = tuple


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def parse(self) -> Node:
        if not self.tokens:
            raise ConditionError("the condition is empty")
        node = self._or()
        if self.i != len(self.tokens):
            token = self.tokens[self.i]
            raise ConditionError(f"unexpected {token.text!r} at {token.at}")
        return node

    def _peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self, text: str | None = None) -> _Token:
        token = self._peek()
        if token is None:
            raise ConditionError(f"the condition ends early (expected {text or 'more'})")
        if text is not None and token.text != text:
            raise ConditionError(f"expected {text!r} at {token.at}, found {token.text!r}")
        self.i += 1
        return token

    def _or(self) -> Node:
        node = self._and()
        while (t := self._peek()) is not None and t.text == "||":
            self._take()
            node = ("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._comparison()
        while (t := self._peek()) is not None and t.text == "&&":
            self._take()
            node = ("and", node, self._comparison())
        return node

    def _comparison(self) -> Node:
        node = self._unary()
        t = self._peek()
        if t is not None and t.text in _COMPARISONS:
            self._take()
            node = ("cmp", t.text, node, self._unary())
            t = self._peek()
            if t is not None and t.text in _COMPARISONS:
                raise ConditionError(f"chained comparison at {t.at}")
        return node

    def _unary(self) -> Node:
        t = self._peek()
        if t is not None and t.text == "!":
            self._take()
            return ("not", self._unary())
        return self._primary()

    def _primary(self) -> Node:
        t = self._take()
        if t.text == "(":
            node = self._or()
            self._take(")")
            return node
        if t.kind == "number":
            return ("lit", float(t.text) if any(c in t.text for c in ".eE") else int(t.text))
        if t.kind == "string":
            return ("lit", _unquote(t.text))
        if t.kind == "name":
            if t.text in ("true", "false"):
                return ("lit", t.text == "true")
            if t.text in _FUNCTIONS:
                self._take("(")
                arg = self._or()
                self._take(")")
                return ("call", t.text, arg)
            if t.text == "inputs":
                self._take(".")
                field = self._take()
                if field.text != "parameter_values":
                    raise ConditionError(
                        f"only inputs.parameter_values[...] can be read, found "
                        f"inputs.{field.text} at {field.at}"
                    )
                self._take("[")
                key = self._take()
                if key.kind != "string":
                    raise ConditionError(f"expected a quoted parameter name at {key.at}")
                self._take("]")
                return ("param", _unquote(key.text))
        raise ConditionError(f"unexpected {t.text!r} at {t.at}")


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


@dataclass(frozen=True)
class Condition:
    """A parsed trigger condition."""

    text: str
    tree: Node

    @property
    def parameters(self) -> set[str]:
        """The input parameters the condition reads."""
        found: set[str] = set()

        def walk(node: Node) -> None:
            if node[0] == "param":
                found.add(node[1])
            for child in node[1:]:
                if isinstance(child, tuple):
                    walk(child)

        walk(self.tree)
        return found

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        """True or False, with `values` the task's input parameters.

        Raises:
            ConditionError: a missing parameter, a type CEL would refuse, a non-boolean result.
        """
        result = _evaluate(self.tree, values.__getitem__ if values else _missing, values)
        if not isinstance(result, bool):
            raise ConditionError(f"condition {self.text!r} gives {result!r}, not a boolean")
        return result


def _missing(name: str) -> Any:
    raise KeyError(name)


def parse_condition(text: str) -> Condition:
    """Parses a compiled trigger condition.

    Raises:
        ConditionError: the text is not CEL of the form KFP compiles.
    """
    try:
        return Condition(text, _Parser(text).parse())
    except ConditionError as err:
        raise ConditionError(f"condition {text!r} cannot be evaluated locally: {err}") from None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return type(value).__name__


def _evaluate(node: Node, get: Callable[[str], Any], values: Mapping[str, Any]) -> Any:
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "param":
        try:
            return get(node[1])
        except KeyError:
            raise ConditionError(f"parameter {node[1]!r} has no value") from None
    if op == "not":
        value = _evaluate(node[1], get, values)
        if not isinstance(value, bool):
            raise ConditionError(f"'!' needs a boolean, got {value!r}")
        return not value
    if op in ("and", "or"):
        left = _evaluate(node[1], get, values)
        right = _evaluate(node[2], get, values)
        if not isinstance(left, bool) or not isinstance(right, bool):
            raise ConditionError(f"'{'&&' if op == 'and' else '||'}' needs booleans")
        return (left and right) if op == "and" else (left or right)
    if op == "call":
        return _convert(node[1], _evaluate(node[2], get, values))
    if op == "cmp":
        return _compare(node[1], _evaluate(node[2], get, values), _evaluate(node[3], get, values))
    raise ConditionError(f"unknown node {op!r}")


def _convert(function: str, value: Any) -> Any:
    kind = _kind(value)
    try:
        if function == "int":
            if kind == "bool" or kind not in ("number", "string"):
                raise ConditionError(f"int() does not take {kind} {value!r}")
            if isinstance(value, float):
                if not math.isfinite(value):
                    raise ConditionError(f"int() of {value!r} is out of range")
                return math.trunc(value)
            return int(value)
        if function == "double":
            if kind == "bool" or kind not in ("number", "string"):
                raise ConditionError(f"double() does not take {kind} {value!r}")
            return float(value)
        if kind == "bool":
            return "true" if value else "false"
        if kind not in ("number", "string"):
            raise ConditionError(f"string() does not take {kind} {value!r}")
        return value if isinstance(value, str) else repr(value)
    except ConditionError:
        raise
    except ValueError:
        raise ConditionError(f"{function}({value!r}) is not a valid conversion") from None


def _compare(op: str, left: Any, right: Any) -> bool:
    lk, rk = _kind(left), _kind(right)
    if lk != rk or lk not in ("number", "string", "bool"):
        raise ConditionError(
            f"no matching overload for {left!r} {op} {right!r} ({lk} against {rk}; CEL does "
            "not convert between strings, numbers and booleans)"
        )
    if op in ("<", "<=", ">", ">=") and lk == "bool":
        raise ConditionError(f"booleans cannot be ordered: {left!r} {op} {right!r}")
    return {
        "==": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]
