"""StudySpec -> Optuna: bounds, scales, conditions, grid coverage, sampler/pruner/direction."""

from __future__ import annotations

import json
import statistics

import optuna
import pytest

from vtp.components.tuning.optuna_space import (
    MAX_GRID_POINTS,
    StudyGridSampler,
    direction,
    grid_points,
    pruner_for,
    sampler_for,
    suggest,
)
from vtp.components.tuning.study import (
    CategoricalParameter,
    ConditionalParameter,
    DiscreteParameter,
    DoubleParameter,
    IntegerParameter,
    MetricSpec,
    StudySpec,
)
from vtp.errors import SpecError, VtpError

optuna.logging.set_verbosity(optuna.logging.WARNING)

ACC = MetricSpec("accuracy", "MAXIMIZE")
LOSS = MetricSpec("loss", "MINIMIZE")

EVERY_KIND = [
    DoubleParameter("d_lin", -2.0, 3.0),
    DoubleParameter("d_log", 1e-5, 1e-1, "UNIT_LOG_SCALE"),
    DoubleParameter("d_rev", 0.9, 0.9999, "UNIT_REVERSE_LOG_SCALE"),
    DoubleParameter("d_unspec", 0.0, 1.0, "SCALE_TYPE_UNSPECIFIED"),
    IntegerParameter("i_lin", -3, 7),
    IntegerParameter("i_log", 1, 1024, "UNIT_LOG_SCALE"),
    IntegerParameter("i_rev", 2, 50, "UNIT_REVERSE_LOG_SCALE"),
    CategoricalParameter("cat", ["relu", "tanh", "gelu"]),
    DiscreteParameter("disc", [0.5, 1, 2.5, 10]),
    DiscreteParameter("disc_log", [1e-3, 1e-2, 1e-1], "UNIT_LOG_SCALE"),
]


def run(study: StudySpec, n: int, seed: int = 0, sampler=None) -> list[dict]:
    """Ask/tell `n` trials with a synthetic objective; the suggested dicts in order."""
    optuna_study = optuna.create_study(
        sampler=sampler or sampler_for(study, seed), direction=direction(study)
    )
    drawn = []
    for _ in range(n):
        trial = optuna_study.ask()
        values = suggest(trial, study)
        drawn.append(values)
        numbers = [v for v in values.values() if not isinstance(v, str)]
        optuna_study.tell(trial, sum(numbers) + len(values))
    return drawn


def check_in_domain(values: dict) -> None:
    for p in EVERY_KIND:
        v = values[p.parameter_id]
        if isinstance(p, DoubleParameter):
            assert isinstance(v, float)
            assert p.min_value <= v <= p.max_value, (p.parameter_id, v)
        elif isinstance(p, IntegerParameter):
            assert isinstance(v, int) and not isinstance(v, bool), (p.parameter_id, v)
            assert p.min_value <= v <= p.max_value, (p.parameter_id, v)
        else:
            assert v in p.values, (p.parameter_id, v)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["RANDOM_SEARCH", "ALGORITHM_UNSPECIFIED"])
def test_every_kind_and_scale_stays_in_bounds(algorithm):
    study = StudySpec([ACC], EVERY_KIND, algorithm=algorithm)
    n = 400 if algorithm == "RANDOM_SEARCH" else 60
    drawn = run(study, n)
    assert len(drawn) == n
    for values in drawn:
        assert list(values) == [p.parameter_id for p in EVERY_KIND]
        check_in_domain(values)
    seen_categories = {v["cat"] for v in drawn}
    assert seen_categories == {"relu", "tanh", "gelu"}


def test_reverse_log_skews_towards_the_max():
    low, high = 1.0, 100.0
    study = StudySpec(
        [ACC],
        [
            DoubleParameter("rev", low, high, "UNIT_REVERSE_LOG_SCALE"),
            DoubleParameter("log", low, high, "UNIT_LOG_SCALE"),
            DoubleParameter("lin", low, high),
            IntegerParameter("irev", 1, 100, "UNIT_REVERSE_LOG_SCALE"),
        ],
        algorithm="RANDOM_SEARCH",
    )
    drawn = run(study, 1500, seed=7)
    rev = [d["rev"] for d in drawn]
    log = [d["log"] for d in drawn]
    lin = [d["lin"] for d in drawn]
    irev = [d["irev"] for d in drawn]
    # log-uniform x has median sqrt(1 * 100) = 10; reverse log is 101 - x: median ~91.
    assert statistics.median(log) < 20
    assert statistics.median(rev) > 80
    assert 35 < statistics.median(lin) < 65
    assert statistics.median(irev) > 80
    # Half of the mass of log-uniform is in [1, 10]: mirrored, half of rev is in [91, 100].
    assert 0.4 < sum(v >= 91 for v in rev) / len(rev) < 0.6
    assert min(rev) >= low and max(rev) <= high


def conditional_study(algorithm: str = "RANDOM_SEARCH") -> StudySpec:
    """optimizer -> (sgd: momentum; adam: depth -> (4, 5: width -> (16: groups)))."""
    groups = CategoricalParameter("groups", ["g1", "g2"])
    width = DiscreteParameter(
        "width", [8, 16], conditional_parameters=[ConditionalParameter(groups, [16.0])]
    )
    depth = IntegerParameter(
        "depth", 1, 5, conditional_parameters=[ConditionalParameter(width, [4, 5])]
    )
    momentum = DiscreteParameter("momentum", [0.0, 0.9])
    optimizer = CategoricalParameter(
        "optimizer",
        ["sgd", "adam", "rmsprop"],
        [ConditionalParameter(momentum, ["sgd"]), ConditionalParameter(depth, ["adam"])],
    )
    return StudySpec([LOSS], [optimizer, IntegerParameter("seed", 0, 1)], algorithm=algorithm)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["RANDOM_SEARCH", "ALGORITHM_UNSPECIFIED"])
def test_conditions_are_honoured(algorithm):
    n = 300 if algorithm == "RANDOM_SEARCH" else 80
    drawn = run(conditional_study(algorithm), n, seed=3)
    for v in drawn:
        assert ("momentum" in v) == (v["optimizer"] == "sgd")
        assert ("depth" in v) == (v["optimizer"] == "adam")
        assert ("width" in v) == (v.get("depth") in (4, 5))
        assert ("groups" in v) == (v.get("width") == 16.0)
        assert "seed" in v
    if algorithm == "RANDOM_SEARCH":
        # every branch is reached, down to the grandchild
        assert any("groups" in v for v in drawn)
        assert any("width" in v and "groups" not in v for v in drawn)
        assert any(v["optimizer"] == "rmsprop" for v in drawn)


def test_grid_covers_every_combination_exactly_once():
    study = conditional_study("GRID_SEARCH")
    # optimizer: sgd x 2 momentum + adam x (depth 1..3 + depth 4,5 x (width 8 + width 16 x 2))
    # + rmsprop = 2 + (3 + 2 * 3) + 1 = 12 per seed value; seed has 2 values.
    expected = 2 * 12
    points = grid_points(study)
    assert len(points) == expected
    assert len({json.dumps(p, sort_keys=True) for p in points}) == expected
    sampler = sampler_for(study, seed=5)
    assert isinstance(sampler, StudyGridSampler)
    assert sampler.size == expected
    optuna_study = optuna.create_study(sampler=sampler, direction=direction(study))
    drawn = []
    while sampler.remaining(optuna_study):
        trial = optuna_study.ask()
        drawn.append(suggest(trial, study))
        optuna_study.tell(trial, 1.0)  # tell after the last point: no error, unlike GridSampler
    as_keys = sorted(json.dumps(v, sort_keys=True) for v in drawn)
    assert as_keys == sorted(json.dumps(p, sort_keys=True) for p in points)
    with pytest.raises(VtpError, match="all 24 grid points"):
        optuna_study.ask()


def test_grid_with_reverse_log_integer_and_parallel_asks():
    study = StudySpec(
        [ACC],
        [
            IntegerParameter(
                "n",
                1,
                6,
                "UNIT_REVERSE_LOG_SCALE",
                [ConditionalParameter(CategoricalParameter("k", ["a", "b"]), [1, 6])],
            ),
            DiscreteParameter("lr", [0.01, 0.1], "UNIT_LOG_SCALE"),
        ],
        algorithm="GRID_SEARCH",
    )
    points = grid_points(study)
    assert len(points) == (4 + 2 * 2) * 2
    sampler = sampler_for(study, seed=1)
    optuna_study = optuna.create_study(sampler=sampler, direction="maximize")
    # parallel trials: ask several before telling any
    running = [optuna_study.ask() for _ in range(5)]
    drawn = [suggest(t, study) for t in running]
    for trial in running:
        optuna_study.tell(trial, state=optuna.trial.TrialState.FAIL)
    while sampler.remaining(optuna_study):
        trial = optuna_study.ask()
        drawn.append(suggest(trial, study))
        optuna_study.tell(trial, 0.0)
    assert sorted(map(json.dumps, drawn)) == sorted(map(json.dumps, points))


def test_grid_seed_fixes_the_order():
    study = conditional_study("GRID_SEARCH")
    first = run(study, 10, seed=11)
    assert run(study, 10, seed=11) == first
    assert run(study, 10, seed=12) != first


def test_grid_refuses_doubles_and_huge_grids():
    with pytest.raises(SpecError, match="must be INTEGER, CATEGORICAL or DISCRETE for a grid"):
        grid_points(StudySpec([ACC], [DoubleParameter("x", 0, 1)]))
    huge = StudySpec(
        [ACC],
        [IntegerParameter("a", 1, 1000), IntegerParameter("b", 1, 1000)],
        algorithm="GRID_SEARCH",
    )
    with pytest.raises(SpecError) as err:
        sampler_for(huge)
    assert err.value.value == "1000000 grid points"
    assert str(MAX_GRID_POINTS) in str(err.value)


def test_sampler_pruner_and_direction():
    base = [IntegerParameter("n", 1, 3)]
    from vtp.components.tuning.gp_sampler import GaussianProcessSampler

    assert isinstance(sampler_for(StudySpec([ACC], base)), GaussianProcessSampler)
    random_study = StudySpec([ACC], base, algorithm="RANDOM_SEARCH")
    assert isinstance(sampler_for(random_study), optuna.samplers.RandomSampler)
    assert isinstance(pruner_for(StudySpec([ACC], base)), optuna.pruners.NopPruner)
    median = StudySpec([ACC], base, median_stopping=True)
    assert isinstance(pruner_for(median), optuna.pruners.MedianPruner)
    decay = StudySpec([ACC], base, decay_curve_stopping=True)
    assert isinstance(pruner_for(decay), optuna.pruners.MedianPruner)
    convex = StudySpec([ACC], base, convex_stopping=True)
    assert isinstance(pruner_for(convex), optuna.pruners.NopPruner)
    assert direction(StudySpec([ACC, LOSS], base)) == "maximize"
    assert direction(StudySpec([ACC, LOSS], base, primary_metric="loss")) == "minimize"


def test_median_pruner_stops_a_trial_behind_the_median():
    study = StudySpec([ACC], [IntegerParameter("n", 1, 3)], median_stopping=True)
    optuna_study = optuna.create_study(
        sampler=sampler_for(study, 0), pruner=pruner_for(study), direction=direction(study)
    )
    for _ in range(6):
        trial = optuna_study.ask()
        suggest(trial, study)
        for step in range(3):
            trial.report(0.9, step)
        optuna_study.tell(trial, 0.9)
    laggard = optuna_study.ask()
    suggest(laggard, study)
    laggard.report(0.1, 0)
    assert laggard.should_prune()


@pytest.mark.slow
def test_seeded_samplers_repeat():
    study = StudySpec([ACC], EVERY_KIND)
    assert run(study, 15, seed=4) == run(study, 15, seed=4)
