"""The read layer of what ran (`vtp.local.history`) and `vtp runs`, on a home written with
vtp's own record classes and the real SQLite registry (`support.history`); real runs are
read by tests/test_ui_browser.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import history as h

from vtp.cli.main import main
from vtp.local.history import evaluations
from vtp.local.history.files import OutsideHome, inside, tail
from vtp.local.history.models import Models
from vtp.local.history.runs import NotFound, Runs
from vtp.local.history.tuning import TuningJobs
from vtp.local.registry import LocalModelRegistry


@pytest.fixture
def written(tmp_path: Path):
    return h.write_home(tmp_path / "home")


def test_runs_newest_first_with_state_duration_metrics_and_model(written):
    runs = Runs(written).list()
    assert [r.run_id for r in runs][:1] == [h.TUNING_RUN]
    by_id = {r.run_id: r for r in runs}
    train = by_id[h.TRAIN_RUN]
    assert (train.state, train.seconds) == ("SUCCEEDED", 12.5)
    assert train.metrics == {"auc": 0.97, "accuracy": 0.9, "test_rows": 60}
    assert train.model_versions == [
        f"projects/{h.PROJECT}/locations/{h.LOCATION}/models/classifier-model@1"
    ]
    assert by_id[h.TUNING_RUN].tuning_jobs == [h.TUNING_JOB]


def test_a_run_whose_process_is_gone_reads_cancelled_and_the_record_is_untouched(written):
    path = written.runs / h.ABANDONED_RUN / "run.json"
    before = path.read_bytes()
    run = Runs(written).get(h.ABANDONED_RUN)
    assert (run.state, run.recorded_state, run.abandoned) == ("CANCELLED", "RUNNING", True)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"pipeline": "regression"}, [h.REGRESSION_RUN]),
        ({"state": "failed"}, [h.FAILED_RUN]),
        ({"text": "bbbbbb"}, [h.FAILED_RUN]),
        ({"text": "sample://r"}, [h.REGRESSION_RUN]),
        ({"pipeline": "training", "limit": 2}, [h.ABANDONED_RUN, h.FAILED_RUN]),
    ],
)
def test_filters(written, filters, expected):
    assert [r.run_id for r in Runs(written).list(**filters)] == expected


def test_steps_in_tree_order_with_dependencies_from_the_compiled_dag(written):
    run = Runs(written).get(h.TRAIN_RUN)
    assert [s.path for s in run.steps] == [
        "load-dataset",
        "training-job-spec",
        "custom-training-job",
        "evaluate-model",
        "condition-1",
        "model-upload",
    ]
    deps = {s.path: s.dependencies for s in run.steps}
    assert deps["evaluate-model"] == ("custom-training-job", "load-dataset")
    assert deps["condition-1"] == ("evaluate-model",)
    assert deps["model-upload"] == ("condition-1",)  # first of its group: hangs from it
    assert deps["load-dataset"] == ()


def test_failed_step_error_and_log_tail(written):
    run = Runs(written).get(h.FAILED_RUN)
    [failed] = run.failed_steps
    assert failed.error.endswith("ValueError: bad learning rate")
    assert failed.log_tail(3) == ["line 28", "line 29", "ValueError: bad learning rate"]


@pytest.mark.parametrize("run_id", ["../runs", "..", "a/b", "", "x" * 3 + "/../y", "nope"])
def test_unknown_or_malformed_run_ids_are_not_found(written, run_id):
    with pytest.raises(NotFound):
        Runs(written).get(run_id)


def test_classification_and_regression_evaluations(written):
    [train] = evaluations.of_run(Runs(written).get(h.TRAIN_RUN))
    assert train.task == "binary"
    assert train.confusion == [[20.0, 2.0], [4.0, 34.0]]
    assert train.roc[0] == (0.0, 0.0, 1.0) and train.roc[-1] == (1.0, 1.0, 0.0)
    [reg] = evaluations.of_run(Runs(written).get(h.REGRESSION_RUN))
    assert reg.task == "regression"
    assert reg.actual[:2] == [1.0, 2.0] and reg.predicted[:2] == [1.2, 1.8]
    assert reg.residuals == {"residual_mean": -0.02}
    assert "residual_mean" not in reg.scalars


def test_tuning_trials_ranked_by_the_metric_best_marked(written):
    job = TuningJobs(written).get(h.TUNING_JOB)
    report = job.report()
    assert [(r.trial_id, r.best) for r in report.rows] == [("2", True), ("1", False), ("3", False)]
    assert job.run_id == h.TUNING_RUN and job.metric_id == "auc"
    with pytest.raises(NotFound):
        TuningJobs(written).get("../tuning")


def test_registry_read_only_and_lineage(written):
    models = Models(written)
    before = written.registry_db.read_bytes()
    [model] = models.list()
    assert [v.version_id for v in model.versions] == ["1", "2"]
    assert model.default.version_id == "2"  # the later upload took `default`
    first = models.lineage(models.version("classifier-model", "1"))
    assert first.run.run_id == h.TRAIN_RUN
    assert first.trainer.image == "vtp-trainer:0.1.0" and first.trainer.source == "custom job 42"
    assert first.hyperparameters == {"learning_rate": "0.1", "max_iter": "50"}
    assert [d["name"] for d in first.datasets] == ["train", "test"]
    assert first.evaluation.step == "evaluate-model"
    second = models.lineage(models.version("classifier-model", "2"))
    assert second.run.run_id == h.TUNING_RUN
    assert second.tuning_job.job_id == h.TUNING_JOB
    assert second.hyperparameters == {"learning_rate": 0.12, "max_iter": 80.0}
    assert second.hyperparameters_from == f"trial 2 of tuning job {h.TUNING_JOB}"
    assert written.registry_db.read_bytes() == before
    with pytest.raises(NotFound):
        models.version("classifier-model", "9")


def test_read_only_registry_refuses_to_write(written):
    from vtp.errors import RegistryError

    registry = LocalModelRegistry(written.registry_db, read_only=True)
    with pytest.raises(RegistryError, match="readonly"):
        registry.upload(display_name="x", artifact_uri="gs://b/m", container_spec=h.SERVING)


def test_paths_outside_the_home_are_refused(tmp_path):
    root = tmp_path / "home"
    (root / "runs").mkdir(parents=True)
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, root / "runs" / "link")
    assert inside(root, "runs") == (root / "runs").resolve()
    for path in ("../secret.txt", str(outside), "runs/../../secret.txt", "runs/link"):
        with pytest.raises(OutsideHome):
            inside(root, path)


def test_tail_reads_the_end_of_a_big_file(tmp_path):
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i}\n" for i in range(200_000)))
    assert tail(log, 2) == ["line 199998", "line 199999"]
    assert tail(tmp_path / "missing.log") == []


# --- vtp runs --------------------------------------------------------------------------------


def test_vtp_runs_list(written, capsys):
    assert main(["runs", "list", "--home", str(written.root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["RUN", "STATE", "STARTED", "(UTC)", "DURATION", "METRICS", "MODEL"]
    train = next(line for line in out if line.startswith(h.TRAIN_RUN))
    assert "SUCCEEDED" in train and "12.5 s" in train and "auc=0.97" in train
    assert "classifier-model@1" in train


def test_vtp_runs_list_filters_and_limit(written, capsys):
    home = ["--home", str(written.root)]
    assert main(["runs", "list", "--state", "failed", *home]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == [h.FAILED_RUN]
    assert main(["runs", "list", "--pipeline", "training", "--limit", "1", *home]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["runs", "list", "--pipeline", "nothing", *home]) == 0
    assert "No local runs" in capsys.readouterr().out


def test_vtp_runs_list_bad_state_is_exit_2(written, capsys):
    assert main(["runs", "list", "--state", "done", "--home", str(written.root)]) == 2
    assert "--state must be one of pending, running, succeeded" in capsys.readouterr().err


def test_vtp_runs_list_bad_limit_is_exit_2(written, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["runs", "list", "--limit", "0", "--home", str(written.root)])
    assert exit_info.value.code == 2
    assert "must be a whole number >= 1" in capsys.readouterr().err


def test_vtp_runs_show_failed_run(written, capsys):
    assert main(["runs", "show", h.FAILED_RUN, "--home", str(written.root)]) == 0
    out = capsys.readouterr().out
    assert "state     FAILED" in out
    assert "custom-training-job [train]  FAILED" in out
    assert "evaluate-model               NOT_TRIGGERED" in out
    assert "custom-training-job [train] failed: replica workerpool0-0 exited with code 1" in out
    assert "    ValueError: bad learning rate" in out and "    line 19" in out
    assert "    line 18" not in out  # the last 12 lines only


def test_vtp_runs_show_last_and_unknown(written, capsys):
    home = ["--home", str(written.root)]
    assert main(["runs", "show", "last", *home]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run       {h.TUNING_RUN}")
    assert f"tuning    {h.TUNING_JOB}" in out
    assert main(["runs", "show", "nope", *home]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_vtp_runs_show_steps_with_outputs(written, capsys):
    assert main(["runs", "show", h.TRAIN_RUN, "--home", str(written.root)]) == 0
    out = capsys.readouterr().out
    assert "  model-upload" in out  # indented under its group
    assert "metrics   auc=0.97, accuracy=0.9, test_rows=60" in out
    assert f"train=gs://local-pipeline-root/{h.TRAIN_RUN}/load-dataset/train" in out
