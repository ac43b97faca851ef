"""A `StudySpec` as an Optuna search space, sampler, pruner and direction (the local twin).

Mapping (vertex-contract.md): linear/log doubles and integers -> `suggest_float`/`suggest_int`;
reverse log -> `lo + hi - suggest_*(lo, hi, log=True)` (Vizier's transform); categorical and
discrete -> `suggest_categorical`; a conditional parameter is suggested only when its parent's
value is listed. Use the dict `suggest` returns: `trial.params` holds Optuna's draws, reverse-log
ones before the transform.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from vtp.components.tuning.study import (
    CategoricalParameter,
    DiscreteParameter,
    IntegerParameter,
    Parameter,
    StudySpec,
)
from vtp.errors import SpecError, VtpError

Value = float | int | str

#: Local bound on the points of a GRID_SEARCH study (each point is one trial).
MAX_GRID_POINTS = 100_000


def suggest(trial: optuna.trial.Trial, study: StudySpec) -> dict[str, Value]:
    """Draw one trial's parameter values, conditional parameters only where active.

    Returns:
        `{parameter_id: value}`: floats for DOUBLE and DISCRETE, ints for INTEGER, strings for
        CATEGORICAL, in the order the parameters are declared (children after their parent).
    """
    values: dict[str, Value] = {}
    for parameter in study.parameters:
        _suggest_into(trial, parameter, values)
    return values


def _suggest_into(trial: optuna.trial.Trial, parameter: Parameter, out: dict[str, Value]) -> None:
    value = _suggest_one(trial, parameter)
    out[parameter.parameter_id] = value
    for child in parameter.conditional_parameters:
        if value in child.parent_values:
            _suggest_into(trial, child.parameter, out)


def _suggest_one(trial: optuna.trial.Trial, parameter: Parameter) -> Value:
    name = parameter.parameter_id
    if isinstance(parameter, CategoricalParameter | DiscreteParameter):
        return trial.suggest_categorical(name, list(parameter.values))
    log = parameter.scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
    low, high = parameter.min_value, parameter.max_value
    drawn: float
    if isinstance(parameter, IntegerParameter):
        drawn = trial.suggest_int(name, parameter.min_value, parameter.max_value, log=log)
    else:
        drawn = trial.suggest_float(name, low, high, log=log)
    if parameter.scale != "UNIT_REVERSE_LOG_SCALE":
        return drawn
    return min(max(low + high - drawn, low), high)


def grid_points(study: StudySpec) -> list[dict[str, Value]]:
    """Every distinct combination of active parameter values, in declaration order.

    A conditional parameter varies only under the parent values that activate it, so no two
    points differ only in an inactive parameter.

    Raises:
        SpecError: if a parameter is DOUBLE or the grid exceeds `MAX_GRID_POINTS`.
    """
    return _grid(study, raw=False)


def _grid(study: StudySpec, raw: bool) -> list[dict[str, Value]]:
    size = math.prod(_count(p) for p in study.parameters)
    if size > MAX_GRID_POINTS:
        raise SpecError(
            "study_spec.parameters",
            f"{size} grid points",
            f"must span at most {MAX_GRID_POINTS} grid points for a local GRID_SEARCH",
        )
    per_parameter = [_configurations(p, raw) for p in study.parameters]
    return [_merge(combo) for combo in itertools.product(*per_parameter)]


def _domain(parameter: Parameter) -> list[Value]:
    if isinstance(parameter, IntegerParameter):
        return list(range(parameter.min_value, parameter.max_value + 1))
    if isinstance(parameter, CategoricalParameter | DiscreteParameter):
        return list(parameter.values)
    raise SpecError(
        f"parameters.{parameter.parameter_id}",
        "DOUBLE",
        "must be INTEGER, CATEGORICAL or DISCRETE for a grid",
    )


def _raw(parameter: Parameter, value: Value) -> Value:
    """What Optuna draws for `value`: reverse-log integers are drawn mirrored."""
    if isinstance(parameter, IntegerParameter) and parameter.scale == "UNIT_REVERSE_LOG_SCALE":
        return parameter.min_value + parameter.max_value - int(value)
    return value


def _count(parameter: Parameter) -> int:
    total = 0
    for value in _domain(parameter):
        active = [c for c in parameter.conditional_parameters if value in c.parent_values]
        total += math.prod(_count(c.parameter) for c in active)
    return total


def _configurations(parameter: Parameter, raw: bool) -> list[dict[str, Value]]:
    """The points of `parameter` and its active children; `raw` stores what Optuna draws."""
    out = []
    for value in _domain(parameter):
        active = [c for c in parameter.conditional_parameters if value in c.parent_values]
        branches = [_configurations(c.parameter, raw) for c in active]
        stored = _raw(parameter, value) if raw else value
        for combo in itertools.product(*branches):
            out.append(_merge(({parameter.parameter_id: stored}, *combo)))
    return out


def _merge(parts: Sequence[dict[str, Value]]) -> dict[str, Value]:
    merged: dict[str, Value] = {}
    for part in parts:
        merged.update(part)
    return merged


class StudyGridSampler(optuna.samplers.BaseSampler):
    """Grid search over `grid_points`: every point exactly once, safe with ask/tell.

    Optuna's `GridSampler` enumerates the full product (conditional parameters included, so
    points repeat) and calls `study.stop()` after the last point, which raises under ask/tell.
    Here each new trial takes the next unused point of a seeded shuffle of the grid; check
    `remaining(study)` before `study.ask()`: asking past the end raises `VtpError`.
    """

    _ATTR = "vtp:grid_point"

    def __init__(self, study: StudySpec, seed: int | None = None):
        self._points = _grid(study, raw=True)
        random.Random(seed).shuffle(self._points)

    @property
    def size(self) -> int:
        """The number of grid points."""
        return len(self._points)

    def remaining(self, study: optuna.Study) -> int:
        """Grid points no trial of `study` has taken yet."""
        return self.size - len(self._taken(study))

    def _taken(self, study: optuna.Study) -> set[int]:
        trials = study.get_trials(deepcopy=False)
        return {t.system_attrs[self._ATTR] for t in trials if self._ATTR in t.system_attrs}

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self._ATTR in trial.system_attrs:
            return
        taken = self._taken(study)
        point = next((i for i in range(self.size) if i not in taken), None)
        if point is None:
            raise VtpError(
                f"GRID_SEARCH has given all {self.size} grid points to trials: ask for at most "
                f"{self.size} trials (see StudyGridSampler.remaining)"
            )
        study._storage.set_trial_system_attr(trial._trial_id, self._ATTR, point)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        point = self._points[trial.system_attrs[self._ATTR]]
        if param_name not in point:
            raise VtpError(f"parameter {param_name!r} is not active at grid point {point}")
        return point[param_name]


def sampler_for(study: StudySpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The sampler of `study.algorithm`: for ALGORITHM_UNSPECIFIED (Vertex's Bayesian search)
    `GaussianProcessSampler`, Bayesian optimisation from the 4th trial on; for RANDOM_SEARCH
    Optuna's `RandomSampler`; for GRID_SEARCH `StudyGridSampler` (every grid point once)."""
    from vtp.components.tuning.gp_sampler import GaussianProcessSampler

    if study.algorithm == "GRID_SEARCH":
        return StudyGridSampler(study, seed)
    if study.algorithm == "RANDOM_SEARCH":
        return optuna.samplers.RandomSampler(seed=seed)
    return GaussianProcessSampler(study, seed=seed)


def pruner_for(study: StudySpec) -> optuna.pruners.BasePruner:
    """`MedianPruner` for median (and, locally, decay-curve) stopping; no pruning otherwise.

    Optuna prunes on the reported intermediate values at a step; Vertex's median rule compares
    running averages, so the trials stopped may differ slightly.
    """
    if study.median_stopping or study.decay_curve_stopping:
        return optuna.pruners.MedianPruner()
    return optuna.pruners.NopPruner()


def direction(study: StudySpec) -> str:
    """The Optuna direction of the primary metric: "maximize" or "minimize"."""
    return study.primary.goal.lower()
