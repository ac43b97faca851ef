"""The local tuner's sampler (Bayesian from the 4th trial on), its seed, and which replica's
hypertune reports make a trial's measurement. Real Optuna studies; the replica test runs real
trial processes that report with cloudml-hypertune."""

from __future__ import annotations

import json
import math
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from vtp.components.tuning.gp_sampler import GaussianProcessSampler
from vtp.components.tuning.optuna_space import sampler_for, suggest
from vtp.components.tuning.study import (
    CategoricalParameter,
    ConditionalParameter,
    DiscreteParameter,
    DoubleParameter,
    IntegerParameter,
    MetricSpec,
    StudySpec,
)
from vtp.errors import SpecError
from vtp.local import tuning_records
from vtp.local.tuner import run_local_study
from vtp.local.twins.tuning_job_runtime import SEED_ENV, seed_from_env

optuna.logging.set_verbosity(optuna.logging.WARNING)
LOSS = MetricSpec("loss", "MINIMIZE")
CONDITIONAL = StudySpec(
    [LOSS],
    [
        CategoricalParameter(
            "model",
            ["linear", "tree"],
            [
                ConditionalParameter(
                    DoubleParameter("alpha", 1e-4, 1.0, "UNIT_LOG_SCALE"), ["linear"]
                ),
                ConditionalParameter(IntegerParameter("depth", 1, 12), ["tree"]),
                ConditionalParameter(
                    DoubleParameter("rate", 0.01, 0.5, "UNIT_REVERSE_LOG_SCALE"), ["tree"]
                ),
            ],
        ),
        DiscreteParameter("batch", [16, 32, 64]),
    ],
)


def loss(values: dict) -> float:
    if values["model"] == "linear":
        return (math.log10(values["alpha"]) + 2) ** 2 + 1.0
    return (values["depth"] - 7) ** 2 / 10 + (values["rate"] - 0.1) ** 2 + values["batch"] / 640


def optimise(spec: StudySpec, objective, trials: int, seed: int | None) -> list[dict]:
    study = optuna.create_study(sampler=sampler_for(spec, seed), direction="minimize")
    seen = []
    for _ in range(trials):
        trial = study.ask()
        values = suggest(trial, spec)
        study.tell(trial, objective(values))
        seen.append(values)
    return seen


def test_default_algorithm_is_bayesian_from_the_fourth_trial_random_and_grid_stay():
    assert isinstance(sampler_for(StudySpec([LOSS], [DoubleParameter("x", 0, 1)])),
                      GaussianProcessSampler)  # fmt: skip
    random_spec = StudySpec([LOSS], [DoubleParameter("x", 0, 1)], algorithm="RANDOM_SEARCH")
    assert isinstance(sampler_for(random_spec), optuna.samplers.RandomSampler)
    # a quadratic in 2 dimensions: after 3 random trials the GP homes in on (0.3, -0.6)
    spec = StudySpec([LOSS], [DoubleParameter("x", -5, 5), DoubleParameter("y", -5, 5)])
    seen = optimise(spec, lambda v: (v["x"] - 0.3) ** 2 + (v["y"] + 0.6) ** 2, 12, seed=1)
    best = min((v["x"] - 0.3) ** 2 + (v["y"] + 0.6) ** 2 for v in seen[3:])
    assert best < 0.25, seen  # 9 random draws over [-5, 5]^2 typically stay above 1


def test_conditional_parameters_are_proposed_only_where_active_and_within_bounds():
    seen = optimise(CONDITIONAL, loss, 16, seed=3)
    for values in seen:
        assert values["batch"] in (16, 32, 64)
        if values["model"] == "linear":
            assert set(values) == {"model", "alpha", "batch"} and 1e-4 <= values["alpha"] <= 1
        else:
            assert set(values) == {"model", "depth", "rate", "batch"}
            assert values["depth"] in range(1, 13) and 0.01 <= values["rate"] <= 0.5
    assert min(loss(v) for v in seen[3:]) < min(loss(v) for v in seen[:3])


def test_same_seed_same_proposals_other_seed_other_ones():
    first = optimise(CONDITIONAL, loss, 6, seed=11)
    assert optimise(CONDITIONAL, loss, 6, seed=11) == first
    assert optimise(CONDITIONAL, loss, 6, seed=12) != first


def test_trials_asked_together_do_not_repeat_each_other():
    spec = StudySpec([LOSS], [DoubleParameter("x", -5, 5)])
    study = optuna.create_study(sampler=sampler_for(spec, 5), direction="minimize")
    for _ in range(4):
        trial = study.ask()
        study.tell(trial, (suggest(trial, spec)["x"] - 1) ** 2)
    running = [study.ask() for _ in range(2)]  # as with parallel_trial_count 2
    a, b = (suggest(t, spec)["x"] for t in running)
    assert a != b


def test_seed_from_env(monkeypatch):
    monkeypatch.delenv(SEED_ENV, raising=False)
    assert seed_from_env() is None
    monkeypatch.setenv(SEED_ENV, "1234")
    assert seed_from_env() == 1234
    monkeypatch.setenv(SEED_ENV, "-3")
    with pytest.raises(SpecError, match="VTP_TUNING_SEED.*non-negative integer"):
        seed_from_env()


# --- trial processes ------------------------------------------------------------------------

REPLICA_TRAINER = """
import json, os, sys
import hypertune

task = json.loads(os.environ["CLUSTER_SPEC"])["task"]
value = 0.5 if task["type"] == "workerpool0" else 0.9  # the worker "does better"
hypertune.HyperTune().report_hyperparameter_tuning_metric("auc", value, 1)
print("reported", task["type"], value, os.environ["CLOUD_ML_HP_METRIC_FILE"])
"""


def _pool(script: Path, replicas: int = 1) -> dict:
    return {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": replicas,
        "container_spec": {"image_uri": "trainer", "command": [sys.executable, str(script)]},
    }


def test_only_the_primary_replicas_reports_make_the_trials_measurement(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(REPLICA_TRAINER))
    study = StudySpec([MetricSpec("auc", "MAXIMIZE")], [DiscreteParameter("d", [1])],
                      algorithm="GRID_SEARCH")  # fmt: skip
    records = run_local_study(
        study=study,
        worker_pool_specs=[_pool(script), _pool(script)],  # chief + one worker
        max_trial_count=1,
        parallel_trial_count=1,
        job_dir=tmp_path / "job",
        gcs_root=tmp_path / "gcs",
        log=lambda line: None,
    )
    assert records[0]["finalMeasurement"]["metrics"] == [{"metricId": "auc", "value": 0.5}]
    trial_dir = tmp_path / "job" / "trials" / "1"
    primary = [json.loads(line) for line in (trial_dir / "output.metrics").read_text().splitlines()]
    worker_file = trial_dir / "metrics" / "workerpool1-0.metrics"
    worker = [json.loads(line) for line in worker_file.read_text().splitlines()]
    assert [r["auc"] for r in primary] == ["0.5"] and [r["auc"] for r in worker] == ["0.9"]


def test_each_study_gets_a_fresh_seed_recorded_and_listed(tmp_path):
    script = tmp_path / "train.py"
    report = "hypertune.HyperTune().report_hyperparameter_tuning_metric('loss', 1.0, 1)"
    script.write_text(f"import hypertune\n{report}\n")
    home = tmp_path / "home"
    seeds = []
    for name, seed in (("1", None), ("2", None), ("3", 77)):
        run_local_study(
            study=StudySpec([LOSS], [DoubleParameter("x", 0, 1)]),
            worker_pool_specs=[_pool(script)],
            max_trial_count=1,
            parallel_trial_count=1,
            job_dir=home / "tuning" / name,
            gcs_root=tmp_path / "gcs",
            seed=seed,
            log=lambda line: None,
        )
        job = json.loads((home / "tuning" / name / "job.json").read_text())
        assert job["sampler"] == "GaussianProcessSampler"
        seeds.append(job["seed"])
    assert seeds[0] != seeds[1] and seeds[2] == 77
    listing = tuning_records.format_jobs(tuning_records.jobs(home))
    assert "SEED" in listing.splitlines()[0]
    assert all(str(s) in listing for s in seeds)


def test_run_refuses_a_negative_tuning_seed(capsys, tmp_path):
    from vtp.cli.main import main

    assert main(["run", "tuning", "--local", "--tuning-seed", "-1", "--home", str(tmp_path)]) == 2
    assert "--tuning-seed must be >= 0, got -1" in capsys.readouterr().err
