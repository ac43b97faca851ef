"""Bayesian optimisation for ALGORITHM_UNSPECIFIED: a Gaussian-process sampler for Optuna.

Vertex's default algorithm is Bayesian from the first trials on (Vizier). Optuna's TPE draws
its first 10 trials at random, and Optuna's own `GPSampler` needs PyTorch (a large install
for a library of pipeline components). This sampler keeps Optuna's ask/tell loop and uses
scikit-learn's `GaussianProcessRegressor` (already a vtp dependency) as the surrogate:

- the first `n_startup_trials` (default 3) are drawn at random (Latin-hypercube style per
  dimension would matter little at this size);
- then every trial fits a GP (constant x Matern 5/2 with one length scale per dimension, plus
  a small noise term) to the finished trials, and proposes the configuration with the highest
  expected improvement among random candidates and local perturbations of the best ones;
- the search space is the StudySpec's, conditional parameters included: every parameter is a
  dimension (doubles and integers scaled to [0, 1], on a log scale where the spec says so;
  categorical values one-hot; discrete values by position), and a parameter that is inactive
  in a configuration takes a fixed value (imputation), so the parent's one-hot tells the
  branches apart;
- trials still running count as observed at the mean of the finished ones (a constant liar),
  so parallel trials spread out.

Values are Optuna's raw draws (reverse-log parameters are mirrored by `suggest` afterwards).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from vtp.components.tuning.study import (
    CategoricalParameter,
    DiscreteParameter,
    IntegerParameter,
    Parameter,
    StudySpec,
)

#: Random candidates scored per proposal, and perturbations of each of the best trials.
RANDOM_CANDIDATES = 2048
LOCAL_CANDIDATES = 256
LOCAL_BEST = 5
#: The value an inactive (conditional) parameter takes in the GP's input.
INACTIVE = -0.5


@dataclass(frozen=True)
class _Dim:
    """One parameter of the flattened space: its Optuna distribution and activation rule."""

    name: str
    distribution: BaseDistribution
    parent: str | None
    parent_values: tuple[Any, ...]
    children: tuple[int, ...]  # indices into the dimension list

    @property
    def width(self) -> int:
        d = self.distribution
        return len(d.choices) if isinstance(d, CategoricalDistribution) else 1


def distribution_of(parameter: Parameter) -> BaseDistribution:
    """The Optuna distribution `optuna_space.suggest` draws `parameter` from."""
    if isinstance(parameter, CategoricalParameter | DiscreteParameter):
        return CategoricalDistribution(list(parameter.values))
    log = parameter.scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
    if isinstance(parameter, IntegerParameter):
        return IntDistribution(parameter.min_value, parameter.max_value, log=log)
    return FloatDistribution(parameter.min_value, parameter.max_value, log=log)


def _flatten(parameters: Sequence[Parameter]) -> list[_Dim]:
    dims: list[_Dim] = []

    def add(parameter: Parameter, parent: str | None, values: tuple[Any, ...]) -> int:
        index = len(dims)
        dims.append(_Dim(parameter.parameter_id, distribution_of(parameter), parent, values, ()))
        children = tuple(
            add(child.parameter, parameter.parameter_id, tuple(child.parent_values))
            for child in parameter.conditional_parameters
        )
        dims[index] = _Dim(dims[index].name, dims[index].distribution, parent, values, children)
        return index

    for parameter in parameters:
        add(parameter, None, ())
    return dims


class GaussianProcessSampler(optuna.samplers.BaseSampler):
    """Expected-improvement Bayesian optimisation over a StudySpec's space (see the module)."""

    def __init__(self, study: StudySpec, seed: int | None = None, n_startup_trials: int = 3):
        self._dims = _flatten(study.parameters)
        self._roots = [i for i, d in enumerate(self._dims) if d.parent is None]
        self._by_name = {d.name: i for i, d in enumerate(self._dims)}
        self._rng = np.random.default_rng(seed)
        self._startup = max(1, int(n_startup_trials))
        self._random = optuna.samplers.RandomSampler(seed=seed)

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._random.reseed_rng()

    # --- Optuna's sampler interface ------------------------------------------------------

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {d.name: d.distribution for d in self._dims}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(done) < self._startup:
            return {}
        sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
        points = [self._encode(t.params) for t in done]
        values = [sign * float(t.value) for t in done]
        running = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.number != trial.number and t.params
        ]
        lie = float(np.mean(values))
        points += [self._encode(t.params) for t in running]
        values += [lie] * len(running)
        best = self._propose(np.array(points), np.array(values), np.array(values[: len(done)]))
        return self._decode(best)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    # --- encoding ------------------------------------------------------------------------

    def _encode(self, params: dict[str, Any]) -> np.ndarray:
        out: list[float] = []
        for dim in self._dims:
            value = params.get(dim.name)
            d = dim.distribution
            if isinstance(d, CategoricalDistribution):
                hot = [0.0] * len(d.choices)
                if value is not None and value in d.choices:
                    hot[d.choices.index(value)] = 1.0
                out += hot if value is not None else [INACTIVE] * len(d.choices)
            elif value is None:
                out.append(INACTIVE)
            else:
                out.append(_to_unit(float(value), d))
        return np.array(out)

    def _decode(self, x: np.ndarray) -> dict[str, Any]:
        values: dict[str, Any] = {}
        offsets = np.cumsum([0] + [d.width for d in self._dims])

        def visit(i: int) -> None:
            dim = self._dims[i]
            d = dim.distribution
            cell = x[offsets[i] : offsets[i + 1]]
            if isinstance(d, CategoricalDistribution):
                value = d.choices[int(np.argmax(cell))]
            else:
                value = _from_unit(float(cell[0]), d)
            values[dim.name] = value
            for child in dim.children:
                if value in self._dims[child].parent_values:
                    visit(child)

        for root in self._roots:
            visit(root)
        return values

    # --- proposals -----------------------------------------------------------------------

    def _random_configs(self, n: int) -> np.ndarray:
        """`n` random configurations (active parameters only), encoded."""
        return np.array([self._encode(self._complete({})) for _ in range(n)])

    def _perturb(self, x: np.ndarray, n: int) -> np.ndarray:
        rows = []
        for _ in range(n):
            z = x.copy()
            scale = float(self._rng.choice([0.02, 0.05, 0.15]))
            noisy = z + self._rng.normal(0.0, scale, size=z.shape)
            candidate = self._decode(np.clip(noisy, 0.0, 1.0))
            offsets = np.cumsum([0] + [d.width for d in self._dims])
            for i, dim in enumerate(self._dims):  # flip a categorical now and then
                d = dim.distribution
                if isinstance(d, CategoricalDistribution) and dim.name in candidate:
                    if self._rng.random() < 0.15:
                        candidate[dim.name] = d.choices[int(self._rng.integers(len(d.choices)))]
                    elif x[offsets[i]] != INACTIVE:
                        cell = x[offsets[i] : offsets[i + 1]]
                        candidate[dim.name] = d.choices[int(np.argmax(cell))]
            rows.append(self._encode(self._complete(candidate)))
        return np.array(rows)

    def _complete(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` restricted to the active parameters, drawing the ones it lacks."""
        out: dict[str, Any] = {}

        def visit(i: int) -> None:
            dim = self._dims[i]
            d = dim.distribution
            value = params.get(dim.name)
            if value is None:
                if isinstance(d, CategoricalDistribution):
                    value = d.choices[int(self._rng.integers(len(d.choices)))]
                else:
                    value = _from_unit(float(self._rng.random()), d)
            out[dim.name] = value
            for child in dim.children:
                if value in self._dims[child].parent_values:
                    visit(child)

        for root in self._roots:
            visit(root)
        return out

    def _propose(self, x: np.ndarray, y: np.ndarray, observed: np.ndarray) -> np.ndarray:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
        from threadpoolctl import threadpool_limits

        width = x.shape[1]
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=np.full(width, 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5
        ) + WhiteKernel(1e-4, (1e-8, 1e-1))
        gp = GaussianProcessRegressor(
            kernel=kernel,
            normalize_y=True,
            n_restarts_optimizer=2,
            random_state=int(self._rng.integers(2**31 - 1)),
        )
        best = float(observed.min())
        order = np.argsort(observed)[:LOCAL_BEST]
        candidates = [self._random_configs(RANDOM_CANDIDATES)]
        candidates += [self._perturb(x[i], LOCAL_CANDIDATES) for i in order]
        pool = np.vstack(candidates)
        # Small matrices: one BLAS thread is several times faster than many contending ones.
        with threadpool_limits(limits=1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(x, y)
            mean, std = gp.predict(pool, return_std=True)
        scores = _expected_improvement(mean, std, best)
        return pool[int(np.argmax(scores))]


def _expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """EI of minimising: E[max(best - f, 0)] under N(mean, std^2)."""
    from scipy.stats import norm

    std = np.maximum(std, 1e-12)
    z = (best - mean) / std
    return (best - mean) * norm.cdf(z) + std * norm.pdf(z)


def _to_unit(value: float, d: FloatDistribution | IntDistribution) -> float:
    low, high = float(d.low), float(d.high)
    if high == low:
        return 0.5
    if d.log:
        return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return (value - low) / (high - low)


def _from_unit(u: float, d: FloatDistribution | IntDistribution) -> float | int:
    u = min(max(u, 0.0), 1.0)
    low, high = float(d.low), float(d.high)
    if d.log:
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        value = low + u * (high - low)
    value = min(max(value, low), high)
    if isinstance(d, IntDistribution):
        return int(min(max(round(value), d.low), d.high))
    return value
