"""Regret of the local tuner's samplers on standard objectives (used by bench_tuning.py).

Each study asks and tells in process (no trial processes: the sampler is what is measured),
through vtp's own StudySpec -> Optuna mapping (`optuna_space.suggest`), so conditional and
log-scaled parameters are drawn exactly as in a local tuning job. Regret = best value found
minus the known optimum (objectives are minimised), median over seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import numpy as np
import optuna

from vtp.components.tuning.optuna_space import sampler_for, suggest
from vtp.components.tuning.study import (
    CategoricalParameter,
    ConditionalParameter,
    DoubleParameter,
    IntegerParameter,
    MetricSpec,
    StudySpec,
)

LOSS = [MetricSpec("f", "MINIMIZE")]


def branin(v: dict) -> float:
    x1, x2 = v["x1"], v["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_C = np.array([1.0, 1.2, 3.0, 3.2])
_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547],
                      [381, 5743, 8828]])  # fmt: skip


def hartmann3(v: dict) -> float:
    x = np.array([v["x1"], v["x2"], v["x3"]])
    return -float(np.sum(_C * np.exp(-np.sum(_A * (x - _P) ** 2, axis=1))))


def conditional(v: dict) -> float:
    """A model choice with its own parameters: `linear` bottoms out at 0.5, `tree` at 0."""
    if v["model"] == "linear":
        return (v["x"] - 1) ** 2 + 0.5
    return (v["depth"] - 7) ** 2 / 10 + (math.log10(v["rate"]) + 2) ** 2


#: name -> (search space, objective, optimum)
PROBLEMS: dict[str, tuple[list, Callable[[dict], float], float]] = {
    "Branin": (
        [DoubleParameter("x1", -5, 10), DoubleParameter("x2", 0, 15)],
        branin,
        0.397887357729739,
    ),
    "Hartmann-3": (
        [DoubleParameter(f"x{i}", 0, 1) for i in (1, 2, 3)],
        hartmann3,
        -3.86278214782076,
    ),
    "conditional": (
        [
            CategoricalParameter(
                "model",
                ["linear", "tree"],
                [
                    ConditionalParameter(DoubleParameter("x", -5, 5), ["linear"]),
                    ConditionalParameter(IntegerParameter("depth", 1, 20), ["tree"]),
                    ConditionalParameter(
                        DoubleParameter("rate", 1e-4, 1, "UNIT_LOG_SCALE"), ["tree"]
                    ),
                ],
            )
        ],
        conditional,
        0.0,
    ),
}

#: contender -> StudySpec algorithm and sampler factory (None: vtp's own `sampler_for`)
CONTENDERS = {
    "vtp (ALGORITHM_UNSPECIFIED)": "ALGORITHM_UNSPECIFIED",
    "Optuna TPE, defaults": "tpe",
    "Optuna TPE, multivariate, 3 startup trials": "tpe-multivariate",
    "random (RANDOM_SEARCH)": "RANDOM_SEARCH",
}


def _sampler(kind: str, study: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "tpe-multivariate":  # the library's model-based option from the first trials
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, n_startup_trials=3
        )
    return sampler_for(study, seed)


def regrets(trials: int, checkpoints: tuple[int, ...], seeds: int) -> dict:
    """{problem: {contender: {checkpoint: [regret per seed]}}}."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    out: dict = {}
    for name, (parameters, objective, optimum) in PROBLEMS.items():
        out[name] = {c: {k: [] for k in checkpoints} for c in CONTENDERS}
        for contender, kind in CONTENDERS.items():
            algorithm = "ALGORITHM_UNSPECIFIED" if kind.startswith("tpe") else kind
            spec = StudySpec(LOSS, parameters, algorithm=algorithm)
            for seed in range(seeds):
                study = optuna.create_study(sampler=_sampler(kind, spec, seed))
                best = math.inf
                for n in range(1, trials + 1):
                    trial = study.ask()
                    value = objective(suggest(trial, spec))
                    study.tell(trial, value)
                    best = min(best, value)
                    if n in checkpoints:
                        out[name][contender][n].append(best - optimum)
    return out


def regret_table(results: dict, checkpoints: tuple[int, ...], seeds: int) -> str:
    """Markdown: median regret per problem and checkpoint, and the ratio to TPE's defaults."""
    head = " | ".join(f"{p} @ {k}" for p in results for k in checkpoints)
    lines = [
        f"| median regret over {seeds} seeds (ratio to Optuna TPE defaults) | {head} |",
        "|---|" + "---|" * (len(results) * len(checkpoints)),
    ]
    for contender in CONTENDERS:
        cells = []
        for _problem, by in results.items():
            for k in checkpoints:
                value = statistics.median(by[contender][k])
                tpe = statistics.median(by["Optuna TPE, defaults"][k])
                ratio = value / tpe if tpe > 0 else float("nan")
                cells.append(f"{value:.4g} ({ratio:.2f}x)")
        lines.append(f"| {contender} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
