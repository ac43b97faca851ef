"""Study specs for hyperparameter tuning: metrics, parameters, algorithm and stopping.

The builders produce the `study_spec` JSON Vertex receives (`StudySpec.to_dict`), the study
inputs of GCPC's `HyperparameterTuningJobRunOp` (`op_inputs`, equal to what GCPC's
`serialize_metrics`/`serialize_parameters` give) and refuse what Vertex would refuse with a
`SpecError` naming the field, the value and what is allowed. `google.cloud.aiplatform_v1` is
imported only by `validate()`, the SDK only by `from_sdk()`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from vtp.components.specs._validate import (
    check_bool,
    check_choice,
    check_int,
    json_fields,
    json_int,
    json_list,
)
from vtp.errors import SpecError

#: `StudySpec.MetricSpec.GoalType` names -> proto numbers (a test keeps the tables equal to
#: `google.cloud.aiplatform_v1`).
GOALS: dict[str, int] = {"MAXIMIZE": 1, "MINIMIZE": 2}
#: `StudySpec.ParameterSpec.ScaleType`; SCALE_TYPE_UNSPECIFIED is sampled as linear.
SCALES: dict[str, int] = {
    "SCALE_TYPE_UNSPECIFIED": 0,
    "UNIT_LINEAR_SCALE": 1,
    "UNIT_LOG_SCALE": 2,
    "UNIT_REVERSE_LOG_SCALE": 3,
}
#: `StudySpec.Algorithm`; ALGORITHM_UNSPECIFIED is Vertex's Bayesian optimisation.
ALGORITHMS: dict[str, int] = {"ALGORITHM_UNSPECIFIED": 0, "GRID_SEARCH": 2, "RANDOM_SEARCH": 3}
#: `StudySpec.MeasurementSelectionType`.
MEASUREMENT_SELECTIONS: dict[str, int] = {"LAST_MEASUREMENT": 1, "BEST_MEASUREMENT": 2}
#: Vertex's limit on the values of a DISCRETE parameter.
MAX_DISCRETE_VALUES = 1000

#: What a parameter_id may be: it becomes the trainer flag `--<parameter_id>=<value>`.
PARAMETER_ID = re.compile(r"[^\s=-][^\s=]*")

_LOG_SCALES = ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
_METRIC_ID = re.compile(r"\S+")
_PARENT_KEYS = {
    "INTEGER": "parent_int_values",
    "CATEGORICAL": "parent_categorical_values",
    "DISCRETE": "parent_discrete_values",
}
_STOPPING = {
    "median_stopping": "median_automated_stopping_spec",
    "decay_curve_stopping": "decay_curve_stopping_spec",
    "convex_stopping": "convex_automated_stopping_spec",
}


# --- field checks -------------------------------------------------------------------------------


def check_parameter_id(field: str, parameter_id: object) -> str:
    """A parameter id as `PARAMETER_ID` allows (no whitespace or '=', no leading '-')."""
    if not isinstance(parameter_id, str) or not PARAMETER_ID.fullmatch(parameter_id):
        raise SpecError(
            field,
            parameter_id,
            "must be a non-empty string without whitespace or '=', not starting with '-' "
            "(the trainer receives it as --<parameter_id>=<value>)",
        )
    return parameter_id


def _parameter_root(parameter_id: object) -> str:
    return f"parameters.{check_parameter_id('parameter_id', parameter_id)}"


def _number(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(field, value, "must be a finite number")
    return float(value)


def _integer(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, value, "must be an integer")
    return value


def _sequence(field: str, value: object, what: str) -> tuple[Any, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise SpecError(field, value, f"must be a sequence of {what}")
    return tuple(value)


def _check_range(root: str, low: float, high: float, scale: str) -> None:
    if low > high:
        raise SpecError(f"{root}.min_value", low, f"must be <= max_value ({high})")
    if scale in _LOG_SCALES and low <= 0:
        raise SpecError(f"{root}.min_value", low, f"must be > 0 with {scale}")


def _check_children(
    root: str, parent: Parameter, children: object, allowed: str
) -> tuple[ConditionalParameter, ...]:
    """The conditional parameters as a tuple, each parent value in the parent's domain."""
    items = _sequence(f"{root}.conditional_parameters", children, "ConditionalParameter")
    for i, child in enumerate(items):
        if not isinstance(child, ConditionalParameter):
            raise SpecError(
                f"{root}.conditional_parameters[{i}]", child, "must be a ConditionalParameter"
            )
        for j, value in enumerate(child.parent_values):
            if not parent.contains(value):
                raise SpecError(
                    f"{root}.conditional_parameters[{i}].parent_values[{j}]", value, allowed
                )
    return items


def _parameter_dict(
    parameter: Parameter, key: str, spec: dict[str, Any], scale: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"parameter_id": parameter.parameter_id, key: spec}
    if scale is not None:
        out["scale_type"] = scale
    if parameter.conditional_parameters:
        out["conditional_parameter_specs"] = [
            child.to_dict(parameter.kind) for child in parameter.conditional_parameters
        ]
    return out


# --- builders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    """A metric the trainer reports with cloudml-hypertune (`metric_id` is the tag)."""

    metric_id: str
    goal: str

    def __post_init__(self) -> None:
        if not isinstance(self.metric_id, str) or not _METRIC_ID.fullmatch(self.metric_id):
            raise SpecError(
                "metrics.metric_id", self.metric_id, "must be a non-empty string without spaces"
            )
        check_choice(f"metrics.{self.metric_id}.goal", self.goal, tuple(GOALS))

    def to_dict(self) -> dict[str, str]:
        """The proto JSON dict (snake_case)."""
        return {"metric_id": self.metric_id, "goal": self.goal}


@dataclass(frozen=True)
class ConditionalParameter:
    """A child parameter, active only when its parent takes one of `parent_values`.

    `parent_values` are ints for an INTEGER parent, strings for a CATEGORICAL one and numbers
    for a DISCRETE one; the parent checks them against its own values.
    """

    parameter: Parameter
    parent_values: Sequence[int | float | str]

    def __post_init__(self) -> None:
        if not isinstance(self.parameter, _PARAMETER_TYPES):
            raise SpecError(
                "conditional_parameter.parameter",
                self.parameter,
                "must be a DoubleParameter, IntegerParameter, CategoricalParameter or "
                "DiscreteParameter",
            )
        field = f"{_parameter_root(self.parameter.parameter_id)}.parent_values"
        values = _sequence(field, self.parent_values, "parent values")
        if not values:
            raise SpecError(field, [], "must list at least one parent value")
        object.__setattr__(self, "parent_values", values)

    def to_dict(self, parent_kind: str) -> dict[str, Any]:
        """The `ConditionalParameterSpec` proto JSON dict under a parent of `parent_kind`."""
        values = list(self.parent_values)
        if parent_kind == "DISCRETE":
            values = [float(v) for v in values]
        return {
            "parameter_spec": self.parameter.to_dict(),
            _PARENT_KEYS[parent_kind]: {"values": values},
        }


@dataclass(frozen=True)
class DoubleParameter:
    """A real parameter in [min_value, max_value]. It cannot be a parent: Vertex conditions
    children on INTEGER, CATEGORICAL and DISCRETE values only."""

    parameter_id: str
    min_value: float
    max_value: float
    scale: str = "UNIT_LINEAR_SCALE"
    conditional_parameters: Sequence[ConditionalParameter] = ()
    kind: ClassVar[str] = "DOUBLE"

    def __post_init__(self) -> None:
        root = _parameter_root(self.parameter_id)
        low = _number(f"{root}.min_value", self.min_value)
        high = _number(f"{root}.max_value", self.max_value)
        scale = check_choice(f"{root}.scale", self.scale, tuple(SCALES))
        _check_range(root, low, high, scale)
        object.__setattr__(self, "min_value", low)
        object.__setattr__(self, "max_value", high)
        children = _sequence(
            f"{root}.conditional_parameters", self.conditional_parameters, "ConditionalParameter"
        )
        if children:
            raise SpecError(
                f"{root}.conditional_parameters",
                list(children),
                "must be empty: a DOUBLE parameter cannot be a parent (Vertex conditions on "
                "INTEGER, CATEGORICAL or DISCRETE parents)",
            )
        object.__setattr__(self, "conditional_parameters", ())

    def contains(self, value: object) -> bool:
        """Whether `value` is a number in the range."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.min_value <= value <= self.max_value

    def to_dict(self) -> dict[str, Any]:
        """The `ParameterSpec` proto JSON dict (snake_case)."""
        spec = {"min_value": self.min_value, "max_value": self.max_value}
        return _parameter_dict(self, "double_value_spec", spec, self.scale)


@dataclass(frozen=True)
class IntegerParameter:
    """An integer parameter in [min_value, max_value]."""

    parameter_id: str
    min_value: int
    max_value: int
    scale: str = "UNIT_LINEAR_SCALE"
    conditional_parameters: Sequence[ConditionalParameter] = ()
    kind: ClassVar[str] = "INTEGER"

    def __post_init__(self) -> None:
        root = _parameter_root(self.parameter_id)
        low = _integer(f"{root}.min_value", self.min_value)
        high = _integer(f"{root}.max_value", self.max_value)
        scale = check_choice(f"{root}.scale", self.scale, tuple(SCALES))
        _check_range(root, low, high, scale)
        allowed = f"must be integers from {low} to {high} (the range of {self.parameter_id})"
        children = _check_children(root, self, self.conditional_parameters, allowed)
        object.__setattr__(self, "conditional_parameters", children)

    def contains(self, value: object) -> bool:
        """Whether `value` is an int in the range."""
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.min_value <= value <= self.max_value
        )

    def to_dict(self) -> dict[str, Any]:
        """The `ParameterSpec` proto JSON dict (snake_case)."""
        spec = {"min_value": self.min_value, "max_value": self.max_value}
        return _parameter_dict(self, "integer_value_spec", spec, self.scale)


@dataclass(frozen=True)
class CategoricalParameter:
    """A string parameter taking one of `values`."""

    parameter_id: str
    values: Sequence[str]
    conditional_parameters: Sequence[ConditionalParameter] = ()
    kind: ClassVar[str] = "CATEGORICAL"

    def __post_init__(self) -> None:
        root = _parameter_root(self.parameter_id)
        values = _sequence(f"{root}.values", self.values, "strings")
        if not values:
            raise SpecError(f"{root}.values", [], "must list at least one value")
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise SpecError(f"{root}.values[{i}]", value, "must be a string")
            if value in values[:i]:
                raise SpecError(f"{root}.values[{i}]", value, "must not repeat an earlier value")
        object.__setattr__(self, "values", values)
        allowed = f"must be among the values of {self.parameter_id}: {', '.join(values)}"
        children = _check_children(root, self, self.conditional_parameters, allowed)
        object.__setattr__(self, "conditional_parameters", children)

    def contains(self, value: object) -> bool:
        """Whether `value` is one of the values."""
        return isinstance(value, str) and value in self.values

    def to_dict(self) -> dict[str, Any]:
        """The `ParameterSpec` proto JSON dict (snake_case); a categorical has no scale."""
        spec = {"values": list(self.values)}
        return _parameter_dict(self, "categorical_value_spec", spec, None)


@dataclass(frozen=True)
class DiscreteParameter:
    """A numeric parameter taking one of `values` (strictly increasing, stored as floats)."""

    parameter_id: str
    values: Sequence[float]
    scale: str = "UNIT_LINEAR_SCALE"
    conditional_parameters: Sequence[ConditionalParameter] = ()
    kind: ClassVar[str] = "DISCRETE"

    def __post_init__(self) -> None:
        root = _parameter_root(self.parameter_id)
        raw = _sequence(f"{root}.values", self.values, "numbers")
        values = tuple(_number(f"{root}.values[{i}]", v) for i, v in enumerate(raw))
        if not values:
            raise SpecError(f"{root}.values", [], "must list at least one value")
        if len(values) > MAX_DISCRETE_VALUES:
            raise SpecError(
                f"{root}.values",
                f"{len(values)} values",
                f"must hold at most {MAX_DISCRETE_VALUES}",
            )
        for i in range(1, len(values)):
            if values[i] <= values[i - 1]:
                raise SpecError(
                    f"{root}.values",
                    list(raw),
                    f"must be strictly increasing (values[{i}] = {values[i]} follows "
                    f"{values[i - 1]})",
                )
        scale = check_choice(f"{root}.scale", self.scale, tuple(SCALES))
        if scale in _LOG_SCALES and values[0] <= 0:
            raise SpecError(f"{root}.values[0]", raw[0], f"must be > 0 with {scale}")
        object.__setattr__(self, "values", values)
        listed = ", ".join(f"{v:g}" for v in values)
        allowed = f"must be among the values of {self.parameter_id}: {listed}"
        children = _check_children(root, self, self.conditional_parameters, allowed)
        object.__setattr__(self, "conditional_parameters", children)

    def contains(self, value: object) -> bool:
        """Whether `value` is a number equal to one of the values."""
        return _is_number(value) and value in self.values

    def to_dict(self) -> dict[str, Any]:
        """The `ParameterSpec` proto JSON dict (snake_case)."""
        spec = {"values": list(self.values)}
        return _parameter_dict(self, "discrete_value_spec", spec, self.scale)


Parameter = DoubleParameter | IntegerParameter | CategoricalParameter | DiscreteParameter
_PARAMETER_TYPES = (DoubleParameter, IntegerParameter, CategoricalParameter, DiscreteParameter)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def iter_parameters(parameters: Sequence[Parameter]) -> Iterator[Parameter]:
    """Every parameter, conditional ones included, depth first."""
    for parameter in parameters:
        yield parameter
        yield from iter_parameters([c.parameter for c in parameter.conditional_parameters])


@dataclass(frozen=True)
class StudySpec:
    """What a tuning job searches and how.

    With several metrics, `primary_metric` (default: the first) is the one the best trial is
    chosen by and the local optimiser follows; it is moved to the front of `metrics`, so the
    primary metric survives the round trip through the Vertex JSON (which has no such field).
    Decay-curve and convex stopping are accepted for Vertex; see `local_notice`.
    """

    metrics: Sequence[MetricSpec]
    parameters: Sequence[Parameter]
    algorithm: str = "ALGORITHM_UNSPECIFIED"
    measurement_selection: str = "BEST_MEASUREMENT"
    median_stopping: bool = False
    decay_curve_stopping: bool = False
    convex_stopping: bool = False
    primary_metric: str | None = None

    def __post_init__(self) -> None:
        root = "study_spec"
        metrics = _sequence(f"{root}.metrics", self.metrics, "MetricSpec")
        if not metrics:
            raise SpecError(f"{root}.metrics", [], "must hold at least one MetricSpec")
        ids: list[str] = []
        for i, metric in enumerate(metrics):
            if not isinstance(metric, MetricSpec):
                raise SpecError(f"{root}.metrics[{i}]", metric, "must be a MetricSpec")
            if metric.metric_id in ids:
                raise SpecError(
                    f"{root}.metrics[{i}].metric_id", metric.metric_id, "must be unique"
                )
            ids.append(metric.metric_id)
        primary = ids[0] if self.primary_metric is None else self.primary_metric
        if primary not in ids:
            raise SpecError(
                f"{root}.primary_metric", primary, f"must be one of the metrics: {', '.join(ids)}"
            )
        ordered = sorted(metrics, key=lambda m: m.metric_id != primary)
        object.__setattr__(self, "metrics", tuple(ordered))
        object.__setattr__(self, "primary_metric", primary)
        self._check_parameters(root)
        algorithm = check_choice(f"{root}.algorithm", self.algorithm, tuple(ALGORITHMS))
        if algorithm == "GRID_SEARCH":
            doubles = [p.parameter_id for p in self.iter_parameters() if p.kind == "DOUBLE"]
            if doubles:
                raise SpecError(
                    f"{root}.algorithm",
                    algorithm,
                    f"must not be GRID_SEARCH with DOUBLE parameters ({', '.join(doubles)}): "
                    "grid search takes INTEGER, CATEGORICAL and DISCRETE parameters",
                )
        check_choice(
            f"{root}.measurement_selection",
            self.measurement_selection,
            tuple(MEASUREMENT_SELECTIONS),
        )
        stopping = [n for n in _STOPPING if check_bool(f"{root}.{n}", getattr(self, n))]
        if len(stopping) > 1:
            raise SpecError(
                f"{root}.{stopping[1]}",
                True,
                f"must be False with {stopping[0]} (Vertex takes one automated stopping spec)",
            )

    def _check_parameters(self, root: str) -> None:
        parameters = _sequence(f"{root}.parameters", self.parameters, "parameters")
        if not parameters:
            raise SpecError(f"{root}.parameters", [], "must hold at least one parameter")
        for i, parameter in enumerate(parameters):
            if not isinstance(parameter, _PARAMETER_TYPES):
                raise SpecError(
                    f"{root}.parameters[{i}]",
                    parameter,
                    "must be a DoubleParameter, IntegerParameter, CategoricalParameter or "
                    "DiscreteParameter",
                )
        object.__setattr__(self, "parameters", parameters)
        seen: set[str] = set()
        for parameter in self.iter_parameters():
            if parameter.parameter_id in seen:
                raise SpecError(
                    f"{root}.parameters",
                    parameter.parameter_id,
                    "must not repeat a parameter_id (conditional parameters included)",
                )
            seen.add(parameter.parameter_id)

    @property
    def primary(self) -> MetricSpec:
        """The metric the best trial is chosen by."""
        return self.metrics[0]

    def iter_parameters(self) -> Iterator[Parameter]:
        """Every parameter, conditional ones included, depth first."""
        return iter_parameters(self.parameters)

    def to_dict(self) -> dict[str, Any]:
        """The `study_spec` proto JSON dict Vertex receives (snake_case)."""
        out: dict[str, Any] = {
            "metrics": [m.to_dict() for m in self.metrics],
            "parameters": [p.to_dict() for p in self.parameters],
            "algorithm": self.algorithm,
            "measurement_selection_type": self.measurement_selection,
        }
        for name, key in _STOPPING.items():
            if getattr(self, name):
                out[key] = {}
        return out

    def metric_spec(self) -> dict[str, str]:
        """`{metric_id: goal}`, the SDK's `metric_spec` and GCPC `serialize_metrics`' input."""
        return {m.metric_id: m.goal for m in self.metrics}

    def parameter_spec(self) -> list[dict[str, Any]]:
        """The op's `study_spec_parameters`, equal to what GCPC `serialize_parameters` gives
        (enums as numbers, int64 as strings, empty condition lists present)."""
        return [_gcpc_parameter(p.to_dict()) for p in self.parameters]

    def op_inputs(self) -> dict[str, Any]:
        """The study inputs of GCPC `v1.hyperparameter_tuning_job.HyperparameterTuningJobRunOp`.

        Raises:
            SpecError: if an automated stopping spec is set: the op has no input for it.
        """
        for name in _STOPPING:
            if getattr(self, name):
                raise SpecError(
                    f"study_spec.{name}",
                    True,
                    "must be False for HyperparameterTuningJobRunOp (it has no stopping input)",
                )
        return {
            "study_spec_metrics": [
                {"metric_id": m.metric_id, "goal": GOALS[m.goal]} for m in self.metrics
            ],
            "study_spec_parameters": self.parameter_spec(),
            "study_spec_algorithm": self.algorithm,
            "study_spec_measurement_selection_type": self.measurement_selection,
        }

    def local_notice(self) -> str | None:
        """What the local twin does differently from Vertex for this spec, if anything."""
        if self.decay_curve_stopping:
            return (
                "decay_curve_stopping: the local twin stops trials by median stopping "
                "(Optuna's MedianPruner) instead of Vertex's decay-curve model"
            )
        if self.convex_stopping:
            return "convex_stopping: the local twin does not stop trials early (Vertex does)"
        return None

    def validate(self) -> None:
        """Parse `to_dict()` into `google.cloud.aiplatform_v1.StudySpec`.

        Raises:
            SpecError: naming the field the proto refuses.
        """
        from vtp.components.specs._proto import check_message

        check_message("StudySpec", self.to_dict(), "study_spec")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudySpec:
        """Parse a `study_spec` dict: snake_case or camelCase keys, enums as names or numbers,
        int64 as strings (what `to_dict`, `op_inputs` and proto JSON give).

        The op inputs parse as `{"metrics": ..., "parameters": ..., "algorithm": ...,
        "measurement_selection_type": ...}`. The first metric becomes the primary one.
        """
        names = (
            "metrics",
            "parameters",
            "algorithm",
            "measurement_selection_type",
            *_STOPPING.values(),
        )
        d = json_fields(data, "study_spec", names, required=("metrics", "parameters"))
        metrics = []
        for i, item in enumerate(json_list("study_spec.metrics", d["metrics"])):
            path = f"study_spec.metrics[{i}]"
            m = json_fields(item, path, ("metric_id", "goal"), required=("metric_id", "goal"))
            metrics.append(MetricSpec(m["metric_id"], _enum(f"{path}.goal", m["goal"], GOALS)))
        parameters = [
            _parse_parameter(item, f"study_spec.parameters[{i}]")
            for i, item in enumerate(json_list("study_spec.parameters", d["parameters"]))
        ]
        kwargs: dict[str, Any] = {
            name: key in d and d[key] is not None for name, key in _STOPPING.items()
        }
        if "algorithm" in d:
            kwargs["algorithm"] = _enum("study_spec.algorithm", d["algorithm"], ALGORITHMS)
        if "measurement_selection_type" in d:
            kwargs["measurement_selection"] = _enum(
                "study_spec.measurement_selection_type",
                d["measurement_selection_type"],
                MEASUREMENT_SELECTIONS,
            )
        return cls(metrics, parameters, **kwargs)


@dataclass(frozen=True)
class TuningJobSpec:
    """A hyperparameter tuning job: the study and its trial budget.

    `max_failed_trial_count` 0 lets Vertex decide how many failed trials fail the job.
    """

    study: StudySpec
    max_trial_count: int
    parallel_trial_count: int
    max_failed_trial_count: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.study, StudySpec):
            raise SpecError("study_spec", self.study, "must be a StudySpec")
        check_int("max_trial_count", self.max_trial_count, minimum=1)
        check_int("parallel_trial_count", self.parallel_trial_count, minimum=1)
        if self.parallel_trial_count > self.max_trial_count:
            raise SpecError(
                "parallel_trial_count",
                self.parallel_trial_count,
                f"must be <= max_trial_count ({self.max_trial_count})",
            )
        check_int("max_failed_trial_count", self.max_failed_trial_count, minimum=0)

    def to_dict(self) -> dict[str, Any]:
        """The `HyperparameterTuningJob` fields this spec sets (snake_case)."""
        return {
            "study_spec": self.study.to_dict(),
            "max_trial_count": self.max_trial_count,
            "parallel_trial_count": self.parallel_trial_count,
            "max_failed_trial_count": self.max_failed_trial_count,
        }

    def op_inputs(self) -> dict[str, Any]:
        """Study and trial-budget inputs of GCPC's `HyperparameterTuningJobRunOp`."""
        return {
            **self.study.op_inputs(),
            "max_trial_count": self.max_trial_count,
            "parallel_trial_count": self.parallel_trial_count,
            "max_failed_trial_count": self.max_failed_trial_count,
        }

    def validate(self) -> None:
        """Parse `to_dict()` into `google.cloud.aiplatform_v1.HyperparameterTuningJob`.

        Raises:
            SpecError: naming the field the proto refuses.
        """
        from vtp.components.specs._proto import check_message

        self.study.validate()
        check_message("HyperparameterTuningJob", self.to_dict())


# --- GCPC encoding ------------------------------------------------------------------------------


def _gcpc_parameter(d: dict[str, Any]) -> dict[str, Any]:
    """A `to_dict()` parameter as proto-plus `to_dict` writes it (what GCPC serialises)."""
    out = dict(d)
    out["scale_type"] = SCALES[d.get("scale_type", "SCALE_TYPE_UNSPECIFIED")]
    if "integer_value_spec" in d:
        out["integer_value_spec"] = {k: str(v) for k, v in d["integer_value_spec"].items()}
    children = []
    for condition in d.get("conditional_parameter_specs", []):
        child = dict(condition)
        child["parameter_spec"] = _gcpc_parameter(condition["parameter_spec"])
        if "parent_int_values" in child:
            child["parent_int_values"] = {
                "values": [str(v) for v in child["parent_int_values"]["values"]]
            }
        children.append(child)
    out["conditional_parameter_specs"] = children
    return out


# --- parsing dicts ------------------------------------------------------------------------------


def _enum(path: str, value: object, table: Mapping[str, int]) -> str:
    """An enum given by name or number (KFP may hand numbers over as floats)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        for name, number in table.items():
            if number == value:
                return name
    if isinstance(value, str) and value in table:
        return value
    raise SpecError(path, value, f"must be one of {', '.join(table)} (or their numbers)")


_VALUE_SPECS = (
    "double_value_spec",
    "integer_value_spec",
    "categorical_value_spec",
    "discrete_value_spec",
)


def _parse_parameter(value: object, path: str) -> Parameter:
    names = ("parameter_id", *_VALUE_SPECS, "scale_type", "conditional_parameter_specs")
    d = json_fields(value, path, names, required=("parameter_id",))
    kinds = [k for k in _VALUE_SPECS if k in d]
    if len(kinds) != 1:
        raise SpecError(path, kinds, f"must set exactly one of {', '.join(_VALUE_SPECS)}")
    kind = kinds[0]
    spec_path = f"{path}.{kind}"
    scale = _enum(f"{path}.scale_type", d.get("scale_type", 0), SCALES)
    children = json_list(
        f"{path}.conditional_parameter_specs", d.get("conditional_parameter_specs", [])
    )
    pid = d["parameter_id"]
    if kind == "categorical_value_spec":
        if scale != "SCALE_TYPE_UNSPECIFIED":
            raise SpecError(
                f"{path}.scale_type", d["scale_type"], "must be unset for a categorical"
            )
        spec = json_fields(d[kind], spec_path, ("values",), required=("values",))
        conditions = _parse_conditions(children, path, "parent_categorical_values")
        return CategoricalParameter(
            pid, list(json_list(f"{spec_path}.values", spec["values"])), conditions
        )
    if kind == "discrete_value_spec":
        spec = json_fields(d[kind], spec_path, ("values",), required=("values",))
        conditions = _parse_conditions(children, path, "parent_discrete_values")
        return DiscreteParameter(
            pid, list(json_list(f"{spec_path}.values", spec["values"])), scale, conditions
        )
    # Proto JSON leaves out zero values (proto3 defaults).
    spec = {"min_value": 0, "max_value": 0}
    spec.update(json_fields(d[kind], spec_path, ("min_value", "max_value")))
    if kind == "double_value_spec":
        if children:
            raise SpecError(
                f"{path}.conditional_parameter_specs", children, "must be empty for a DOUBLE parent"
            )
        return DoubleParameter(pid, spec["min_value"], spec["max_value"], scale)
    low = json_int(f"{spec_path}.min_value", spec["min_value"])
    high = json_int(f"{spec_path}.max_value", spec["max_value"])
    conditions = _parse_conditions(children, path, "parent_int_values")
    return IntegerParameter(pid, low, high, scale, conditions)


def _parse_conditions(
    children: Sequence[Any], path: str, parent_key: str
) -> list[ConditionalParameter]:
    out = []
    for i, item in enumerate(children):
        child_path = f"{path}.conditional_parameter_specs[{i}]"
        names = ("parameter_spec", *_PARENT_KEYS.values())
        c = json_fields(item, child_path, names, required=("parameter_spec", parent_key))
        others = [k for k in _PARENT_KEYS.values() if k in c and k != parent_key]
        if others:
            raise SpecError(f"{child_path}.{others[0]}", c[others[0]], f"must be {parent_key} here")
        values_path = f"{child_path}.{parent_key}"
        condition = json_fields(c[parent_key], values_path, ("values",), required=("values",))
        raw = json_list(f"{values_path}.values", condition["values"])
        values = list(raw)
        if parent_key == "parent_int_values":
            values = [json_int(f"{values_path}.values[{j}]", v) for j, v in enumerate(raw)]
        parameter = _parse_parameter(c["parameter_spec"], f"{child_path}.parameter_spec")
        out.append(ConditionalParameter(parameter, values))
    return out


# --- from the Vertex AI SDK ---------------------------------------------------------------------

_SDK_SCALES = {
    "linear": "UNIT_LINEAR_SCALE",
    "log": "UNIT_LOG_SCALE",
    "reverse_log": "UNIT_REVERSE_LOG_SCALE",
    "unspecified": "SCALE_TYPE_UNSPECIFIED",
}
_SDK_ALGORITHMS = {None: "ALGORITHM_UNSPECIFIED", "grid": "GRID_SEARCH", "random": "RANDOM_SEARCH"}
_SDK_SELECTIONS = {"best": "BEST_MEASUREMENT", "last": "LAST_MEASUREMENT"}


def from_sdk(
    parameter_spec: Mapping[str, Any],
    metric_spec: Mapping[str, str],
    search_algorithm: str | None = None,
    measurement_selection: str = "best",
    **study_fields: Any,
) -> StudySpec:
    """A `StudySpec` from the Vertex AI SDK's arguments (`aiplatform.HyperparameterTuningJob`).

    Args:
        parameter_spec: `{parameter_id: hpt.DoubleParameterSpec(...) | IntegerParameterSpec |
            CategoricalParameterSpec | DiscreteParameterSpec}`, conditional specs included
            (`google.cloud.aiplatform.hyperparameter_tuning`, imported here only: it is slow).
        metric_spec: `{metric_id: "maximize" | "minimize"}`.
        search_algorithm: the SDK's `None`, `"grid"` or `"random"`.
        measurement_selection: the SDK's `"best"` or `"last"`.
        **study_fields: further `StudySpec` fields (stopping, `primary_metric`).
    """
    metrics = [MetricSpec(mid, str(goal).upper()) for mid, goal in metric_spec.items()]
    parameters = [_from_sdk_parameter(pid, spec) for pid, spec in parameter_spec.items()]
    if search_algorithm not in _SDK_ALGORITHMS:
        raise SpecError("search_algorithm", search_algorithm, "must be None, 'grid' or 'random'")
    if measurement_selection not in _SDK_SELECTIONS:
        raise SpecError("measurement_selection", measurement_selection, "must be 'best' or 'last'")
    return StudySpec(
        metrics,
        parameters,
        algorithm=_SDK_ALGORITHMS[search_algorithm],
        measurement_selection=_SDK_SELECTIONS[measurement_selection],
        **study_fields,
    )


def _from_sdk_parameter(parameter_id: str, spec: Any) -> Parameter:
    from google.cloud.aiplatform import hyperparameter_tuning as hpt

    path = f"parameter_spec[{parameter_id!r}]"
    scale = getattr(spec, "scale", "unspecified")
    if scale not in _SDK_SCALES:
        raise SpecError(f"{path}.scale", scale, f"must be one of {', '.join(_SDK_SCALES)}")
    children = [
        ConditionalParameter(_from_sdk_parameter(cid, child), list(child.parent_values or ()))
        for cid, child in (spec.conditional_parameter_spec or {}).items()
    ]
    if isinstance(spec, hpt.DoubleParameterSpec):
        return DoubleParameter(parameter_id, spec.min, spec.max, _SDK_SCALES[scale], children)
    if isinstance(spec, hpt.IntegerParameterSpec):
        return IntegerParameter(parameter_id, spec.min, spec.max, _SDK_SCALES[scale], children)
    if isinstance(spec, hpt.CategoricalParameterSpec):
        return CategoricalParameter(parameter_id, list(spec.values), children)
    if isinstance(spec, hpt.DiscreteParameterSpec):
        return DiscreteParameter(parameter_id, list(spec.values), _SDK_SCALES[scale], children)
    raise SpecError(
        path,
        spec,
        "must be a DoubleParameterSpec, IntegerParameterSpec, CategoricalParameterSpec or "
        "DiscreteParameterSpec of google.cloud.aiplatform.hyperparameter_tuning",
    )
