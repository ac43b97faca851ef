"""Prediction instances checked before a model sees them, so a bad one is named.

The prebuilt scikit-learn and XGBoost containers take `{"instances": [[v, ...], ...]}`: each
instance a list of feature values in the model's feature order. A request that is not of that
shape, or an instance the model rejects, is a `BadInstance` naming `instances[i]` (and the
feature where it can), never a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vtp.errors import VtpError


class BadInstance(VtpError, ValueError):
    """A prediction request or instance the model cannot take; `field` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class ModelShape:
    """What a model takes: its feature count and names, where the model records them."""

    n_features: int | None = None
    names: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.names:
            shown = ", ".join(self.names[:8]) + (", ..." if len(self.names) > 8 else "")
            return f"{len(self.names)} features ({shown})"
        return f"{self.n_features} features" if self.n_features is not None else "its features"

    def feature(self, j: int) -> str:
        return f" (feature {self.names[j]!r})" if j < len(self.names) else ""


def recorded_features(model_dir: str) -> tuple[str, ...]:
    """The feature names `model_metadata.json` records (vtp's trainers write it), else ()."""
    import json
    import os

    try:
        with open(os.path.join(model_dir, "model_metadata.json"), encoding="utf-8") as f:
            names = json.load(f).get("feature_names")
    except (OSError, ValueError, AttributeError):
        return ()
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_request(body: Any, shape: ModelShape) -> list[list[Any]]:
    """The instances of a request body, each a list of scalar feature values."""
    if not isinstance(body, dict) or "instances" not in body:
        raise BadInstance(
            "instances",
            'the request must be a JSON object {"instances": [[value, ...], ...]}, got '
            + _short(body),
        )
    return check_instances(body["instances"], shape)


def check_instances(instances: Any, shape: ModelShape, field: str = "instances") -> list:
    """`instances` if it is a non-empty list of feature-value lists the model's width."""
    if not isinstance(instances, list) or not instances:
        raise BadInstance(field, f"must be a non-empty list of instances, got {_short(instances)}")
    for i, instance in enumerate(instances):
        check_instance(instance, shape, f"{field}[{i}]")
    return instances


def check_instance(instance: Any, shape: ModelShape, field: str) -> None:
    """One instance: a list of numbers, strings or nulls, as many as the model's features."""
    if not isinstance(instance, list):
        raise BadInstance(
            field,
            f"must be a list of feature values in the model's order ({shape.describe()}), "
            f"got {_short(instance)}",
        )
    if shape.n_features is not None and len(instance) != shape.n_features:
        raise BadInstance(field, f"has {len(instance)} values; the model takes {shape.describe()}")
    for j, value in enumerate(instance):
        ok = value is None or (isinstance(value, int | float | str) and not isinstance(value, bool))
        if not ok:
            raise BadInstance(
                f"{field}[{j}]",
                f"must be a number, a string or null{shape.feature(j)}, got {_short(value)}",
            )
        if isinstance(value, float) and math.isinf(value):
            raise BadInstance(f"{field}[{j}]", f"must be finite{shape.feature(j)}, got {value}")


def _value_named_by(error: Exception, instance: Any) -> str:
    """`[j]` for the string at position j of `instance` that the model's message is about:
    the one it quotes (numpy's "could not convert string to float: 'abc'"), else the first
    string when the message is about strings (scikit-learn's "dtype='numeric' is not
    compatible with arrays of bytes/strings")."""
    text = str(error)
    if not isinstance(instance, list):
        return ""
    strings = [j for j, value in enumerate(instance) if isinstance(value, str)]
    quoted = [j for j in strings if f"'{instance[j]}'" in text]
    if quoted:
        return f"[{quoted[0]}]"
    return f"[{strings[0]}]" if strings and "string" in text else ""


def predict_locating(
    predict: Callable[[Sequence[Any]], Any], instances: Sequence[Any], field: str = "instances"
) -> Any:
    """`predict(instances)`; when the model refuses the batch, the first instance it refuses
    alone is named in a BadInstance with the model's own message."""
    try:
        return predict(instances)
    except Exception as batch_error:  # the model's error, whatever its type
        for i, instance in enumerate(instances):
            try:
                predict([instance])
            except Exception as err:
                where = f"{field}[{i}]" + _value_named_by(err, instance)
                raise BadInstance(where, f"the model refused it: {err}") from None
        raise BadInstance(field, f"the model refused the batch: {batch_error}") from None
