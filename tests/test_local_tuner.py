"""The local tuner, with real trial processes: small trainers written into tmp_path that take
`--x=...` style arguments and report with the real cloudml-hypertune library."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import psutil
import pytest
from google.cloud.aiplatform_v1.types import Trial
from support.waiting import wait_until

from vtp.components.tuning.study import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    IntegerParameter,
    MetricSpec,
    StudySpec,
)
from vtp.errors import SpecError
from vtp.local.tuner import TuningJobFailed, failure_limit, run_local_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
# every trial is a real process: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]

# A trainer: `--mode=M --dump=DIR` plus the trial's parameters. It writes what it received to
# DIR/<trial>.json when it starts and again when it ends, and behaves by mode and trial id.
TRAINER = """
import argparse, json, os, sys, time
import hypertune


p = argparse.ArgumentParser(allow_abbrev=False)
p.add_argument("--mode", default="quadratic")
p.add_argument("--dump", required=True)
p.add_argument("--x", type=float, default=0.0)
args, _ = p.parse_known_args()
trial = int(os.environ["CLOUD_ML_TRIAL_ID"])
keys = ("AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR", "AIP_TENSORBOARD_LOG_DIR", "CLOUD_ML_TRIAL_ID",
        "CLOUD_ML_HP_METRIC_FILE", "CLUSTER_SPEC")
info = {"argv": sys.argv[1:], "env": {k: os.environ.get(k) for k in keys},
        "pid": os.getpid(), "start": time.time()}
path = os.path.join(args.dump, f"{trial}.json")

def dump(**more):
    info.update(more)
    with open(path + ".tmp", "w") as f:
        json.dump(info, f)
    os.replace(path + ".tmp", path)

dump()
tuner = hypertune.HyperTune()
report = tuner.report_hyperparameter_tuning_metric
mode = args.mode
if mode == "quadratic":
    report("loss", (args.x - 2.0) ** 2, 1)
elif mode == "sleep":
    time.sleep(1.5)
    report("loss", args.x, 1)
elif mode == "mixed":  # 1 fails, 2 and 4 report nothing, the others report
    if trial == 1:
        print("boom", file=sys.stderr)
        sys.exit(3)
    if trial not in (2, 4):
        report("loss", float(trial), 1)
elif mode == "fail":
    sys.exit(3)
elif mode == "median":  # trials 1-5 are good and quick; 6 is bad and would run for 30 s
    if trial <= 5:
        for step in (1, 2, 3):
            report("acc", 0.9, step)
    else:
        for step in range(1, 31):
            report("acc", 0.1, step)
            time.sleep(1)
elif mode == "interrupt":  # trials 1-2 are quick, later ones run for 60 s
    if trial > 2:
        time.sleep(60)
    report("loss", float(trial), 1)
dump(end=time.time())
"""


@pytest.fixture
def trainer(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(TRAINER))
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    return script, dumps


def _pool(trainer, mode: str) -> dict:
    script, dumps = trainer
    return {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "container_spec": {
            "image_uri": "trainer",
            "command": ["python", str(script)],
            "args": [f"--mode={mode}", f"--dump={dumps}"],
        },
    }


def _run(tmp_path, trainer, mode, study, *, trials, parallel=1, **kwargs):
    kwargs.setdefault("log", lambda line: None)
    return run_local_study(
        study=study,
        worker_pool_specs=[_pool(trainer, mode)],
        max_trial_count=trials,
        parallel_trial_count=parallel,
        base_output_directory="gs://bucket/tuning",
        job_dir=tmp_path / "job",
        gcs_root=tmp_path / "gcs",
        **kwargs,
    )


def _dump(trainer, trial_id) -> dict:
    return json.loads((trainer[1] / f"{trial_id}.json").read_text())


def _value(record: dict) -> float:
    return record["finalMeasurement"]["metrics"][0]["value"]


LOSS = MetricSpec("loss", "MINIMIZE")
X = DoubleParameter("x", -10.0, 10.0)


def test_trials_get_their_values_dirs_trial_id_and_metrics_file(tmp_path, trainer):
    study = StudySpec(
        [LOSS],
        [
            DoubleParameter("x", 1e-4, 1e-1, "UNIT_LOG_SCALE"),
            IntegerParameter("n", 1, 5),
            CategoricalParameter("c", ["a", "b"]),
            DiscreteParameter("d", [1, 2, 4]),
        ],
        algorithm="RANDOM_SEARCH",
    )
    seen = []
    records = _run(tmp_path, trainer, "quadratic", study, trials=4, on_trial=seen.append)
    assert seen == records and [r["id"] for r in records] == ["1", "2", "3", "4"]
    assert json.loads((tmp_path / "job" / "trials.json").read_text()) == records
    for record in records:
        tid = record["id"]
        values = {p["parameterId"]: p["value"] for p in record["parameters"]}
        assert 1e-4 <= values["x"] <= 1e-1 and values["n"] in (1, 2, 3, 4, 5)
        assert values["c"] in ("a", "b") and values["d"] in (1, 2, 4)
        dump = _dump(trainer, tid)
        assert dump["argv"][2:] == [
            f"--x={values['x']!r}",
            f"--n={float(values['n'])}",
            f"--c={values['c']}",
            f"--d={float(values['d'])}",
        ]
        env = dump["env"]
        base = tmp_path / "gcs" / "bucket" / "tuning" / tid
        assert env["AIP_MODEL_DIR"] == f"{base}/model/"
        assert env["AIP_CHECKPOINT_DIR"] == f"{base}/checkpoints/"
        assert env["AIP_TENSORBOARD_LOG_DIR"] == f"{base}/logs/"
        assert env["CLOUD_ML_TRIAL_ID"] == tid
        assert json.loads(env["CLUSTER_SPEC"])["task"]["trial"] == tid
        metrics_file = tmp_path / "job" / "trials" / tid / "output.metrics"
        assert env["CLOUD_ML_HP_METRIC_FILE"] == str(metrics_file)
        assert json.loads(metrics_file.read_text())["trial"] == tid  # hypertune's own line
        parsed = Trial.from_json(json.dumps(record))
        assert parsed.state == Trial.State.SUCCEEDED and parsed.id == tid
        assert parsed.final_measurement.metrics[0].value == pytest.approx((values["x"] - 2) ** 2)
        assert parsed.start_time <= parsed.end_time
    job = json.loads((tmp_path / "job" / "job.json").read_text())
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["trial_counts"] == {"SUCCEEDED": 4}
    study_db = optuna.load_study(study_name="job", storage=f"sqlite:///{tmp_path}/job/study.db")
    assert [t.state for t in study_db.trials] == [optuna.trial.TrialState.COMPLETE] * 4


def test_bayesian_search_finds_the_minimum_of_a_quadratic(tmp_path, trainer):
    records = _run(tmp_path, trainer, "quadratic", StudySpec([LOSS], [X]), trials=16)
    best = min(records, key=_value)
    x = best["parameters"][0]["value"]
    assert _value(best) < 0.5 and abs(x - 2.0) < 0.75, (x, _value(best))


def test_two_trials_run_at_once(tmp_path, trainer):
    records = _run(tmp_path, trainer, "sleep", StudySpec([LOSS], [X]), trials=2, parallel=2)
    assert len(records) == 2
    first, second = _dump(trainer, 1), _dump(trainer, 2)  # as the trial processes recorded
    assert max(first["start"], second["start"]) < min(first["end"], second["end"])  # overlap


def test_failed_and_infeasible_trials(tmp_path, trainer):
    records = _run(
        tmp_path,
        trainer,
        "mixed",
        StudySpec([LOSS], [X]),
        trials=5,
        max_failed_trial_count=2,
    )
    states = {r["id"]: Trial.from_json(json.dumps(r)).state for r in records}
    assert states == {
        "1": Trial.State.INFEASIBLE,
        "2": Trial.State.INFEASIBLE,
        "3": Trial.State.SUCCEEDED,
        "4": Trial.State.INFEASIBLE,
        "5": Trial.State.SUCCEEDED,
    }
    by_id = {r["id"]: r for r in records}
    assert by_id["1"]["infeasibleReason"].startswith("trial job failed:")
    assert "exit code 3" in by_id["1"]["infeasibleReason"]
    assert "without reporting metric 'loss'" in by_id["2"]["infeasibleReason"]
    assert "finalMeasurement" not in by_id["2"]
    job = json.loads((tmp_path / "job" / "job.json").read_text())
    # one failed trial, two infeasible ones: below the limit of 2 failed trials
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["failed_trials"] == ["1"]


def test_reaching_the_failed_trial_limit_fails_the_job(tmp_path, trainer):
    with pytest.raises(TuningJobFailed) as caught:
        _run(
            tmp_path,
            trainer,
            "fail",
            StudySpec([LOSS], [X]),
            trials=6,
            max_failed_trial_count=2,
        )
    message = str(caught.value)
    assert "2 trial(s) failed, reaching the limit of 2 (max_failed_trial_count)" in message
    assert "trial 1 (x=" in message and "trial 2 (x=" in message and "exit code 3" in message
    assert [t["id"] for t in caught.value.trials] == ["1", "2"]
    assert sorted(p.name for p in trainer[1].glob("*.json")) == ["1.json", "2.json"]
    job = json.loads((tmp_path / "job" / "job.json").read_text())
    assert job["state"] == "JOB_STATE_FAILED" and "reaching the limit" in job["error"]


def test_failure_limit_when_vertex_decides():
    assert failure_limit(3, 10) == 3
    assert failure_limit(0, 10) == 5
    assert failure_limit(0, 1) == 1 and failure_limit(0, 3) == 2


def test_median_stopping_stops_a_slow_bad_trial_early(tmp_path, trainer):
    study = StudySpec([MetricSpec("acc", "MAXIMIZE")], [X], median_stopping=True)
    records = _run(tmp_path, trainer, "median", study, trials=6)
    laggard = records[-1]
    assert laggard["id"] == "6"
    dump = _dump(trainer, 6)
    assert "end" not in dump  # stopped before it could finish
    assert not psutil.pid_exists(dump["pid"]) or psutil.Process(dump["pid"]).status() == "zombie"
    ran = Trial.from_json(json.dumps(laggard))
    steps = [m.step_count for m in ran.measurements]
    assert steps and max(steps) < 30, steps  # stopped at some step of its 30
    # Vertex completes an early-stopped trial with the measurements it reported
    assert ran.state == Trial.State.SUCCEEDED and ran.final_measurement.metrics[0].value == 0.1
    assert all(Trial.from_json(json.dumps(r)).state == Trial.State.SUCCEEDED for r in records)
    db = optuna.load_study(study_name="job", storage=f"sqlite:///{tmp_path}/job/study.db")
    assert db.trials[-1].state == optuna.trial.TrialState.PRUNED


def test_grid_search_stops_when_the_grid_is_exhausted(tmp_path, trainer):
    study = StudySpec(
        [LOSS],
        [IntegerParameter("x", 1, 3), CategoricalParameter("c", ["a", "b"])],
        algorithm="GRID_SEARCH",
    )
    records = _run(tmp_path, trainer, "quadratic", study, trials=10, parallel=2)
    points = {tuple(p["value"] for p in r["parameters"]) for r in records}
    assert len(records) == 6 and len(points) == 6


def test_convex_stopping_prints_the_local_notice_once(tmp_path, trainer):
    lines: list[str] = []
    study = StudySpec([LOSS], [X], convex_stopping=True)
    _run(tmp_path, trainer, "quadratic", study, trials=1, log=lines.append)
    assert sum("notice: convex_stopping" in line for line in lines) == 1
    assert any(line.startswith("trial 1 SUCCEEDED loss=") for line in lines)


def test_invalid_jobs_are_refused_before_any_trial(tmp_path, trainer):
    with pytest.raises(SpecError, match=r"parallel_trial_count must be <= max_trial_count"):
        _run(tmp_path, trainer, "quadratic", StudySpec([LOSS], [X]), trials=1, parallel=2)
    unmapped = {**_pool(trainer, "quadratic"), "container_spec": {"image_uri": "trainer:1"}}
    with pytest.raises(Exception, match="trainer"):
        run_local_study(
            study=StudySpec([LOSS], [X]),
            worker_pool_specs=[unmapped],
            max_trial_count=1,
            parallel_trial_count=1,
            job_dir=tmp_path / "job2",
            gcs_root=tmp_path / "gcs",
            image_commands={},
        )
    assert not list(trainer[1].iterdir())


# Runs the tuner on its own, as a pipeline step would: argv = job_dir gcs_root trainer dumps.
STUDY_MAIN = """
import sys
from pathlib import Path
from vtp.local.tuner import run_local_study
from vtp.components.tuning.study import DoubleParameter, MetricSpec, StudySpec

job_dir, gcs, script, dumps = sys.argv[1:]
pool = {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1,
        "container_spec": {"image_uri": "t", "command": ["python", script],
                           "args": ["--mode=interrupt", f"--dump={dumps}"]}}
run_local_study(study=StudySpec([MetricSpec("loss", "MINIMIZE")], [DoubleParameter("x", 0, 1)]),
                worker_pool_specs=[pool], max_trial_count=5, parallel_trial_count=1,
                job_dir=Path(job_dir), gcs_root=Path(gcs))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_study_keeps_its_finished_trials(tmp_path, trainer, sig):
    job_dir = tmp_path / "job"
    main = tmp_path / "study_main.py"
    main.write_text(textwrap.dedent(STUDY_MAIN))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, str(main), str(job_dir), str(tmp_path / "gcs"), *map(str, trainer)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # trials 1 and 2 finished, 3 is running
        wait_until(lambda: (trainer[1] / "3.json").exists() or proc.poll() is not None)
        assert proc.poll() is None
        pid = _dump(trainer, 3)["pid"]
        proc.send_signal(sig)
        output = proc.communicate(timeout=20)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, output
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    trials = json.loads((job_dir / "trials.json").read_text())
    assert [t["id"] for t in trials] == ["1", "2"]
    assert all(Trial.from_json(json.dumps(t)).state == Trial.State.SUCCEEDED for t in trials)
    job = json.loads((job_dir / "job.json").read_text())
    assert job["state"] == "JOB_STATE_CANCELLED" and job["stopped_trials"] == ["3"]
    db = optuna.load_study(study_name="job", storage=f"sqlite:///{job_dir}/study.db")
    states = [t.state.name for t in db.trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL"]
    assert math.isclose(db.best_value, 1.0)
