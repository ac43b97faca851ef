"""What the CLI says: a failed step's own error line first, a GPU pool on CPU said once, the
progress of long steps, the summary's reports and plots, `vtp list`'s descriptions and
`vtp tuning trials` sorted by the study's metric.

Unit tests read real records and real compiled YAML; the end-to-end ones (`slow`) run the
`vtp` command as a subprocess on real trainers (one that raises, one that reports through
`hypertune`), GCPC's tuning launcher task on the local twin.
"""

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from kfp import dsl
from support.pipelines import compile_pipeline

from vtp.cli.summary import failure_lead, summarize, ui_address
from vtp.local.orchestrator.failures import cause_line
from vtp.local.orchestrator.records import RunRecord, TaskRecord
from vtp.local.tuning_records import format_trials

REPO = Path(__file__).resolve().parents[1]
PIPELINES = ("training", "tuning", "distributed")


# --- the failed step's own line ------------------------------------------------------------


def test_cause_is_the_last_exception_line_of_the_programs_output():
    tail = [
        "local custom job projects/p/locations/l/customJobs/1",
        "[local-job] starting workerpool0-0: python -m trainer.task",
        "[workerpool0-0] Traceback (most recent call last):",
        '[workerpool0-0]   File "task.py", line 3, in load',
        "[workerpool0-0]     raise ValueError('no column price')",
        "[workerpool0-0] ValueError: no column price",
        "[local-job] stopping workerpool1-0",
    ]
    assert cause_line(tail, "local job 'x' failed: replica workerpool0-0 ...") == (
        "ValueError: no column price"
    )


def test_cause_of_a_trial_and_of_a_trainer_that_prints_its_error():
    assert cause_line(["[trial 2] [workerpool0-0] pandas.errors.ParserError: bad line 3"]) == (
        "pandas.errors.ParserError: bad line 3"
    )
    tail = ["INFO reading data", "trainer: error: data URI 'x': no rows in 1 file(s)"]
    assert cause_line(tail) == "trainer: error: data URI 'x': no rows in 1 file(s)"


def test_cause_skips_vtps_own_lines_and_falls_back_to_the_error():
    tail = [
        '{"inputs": {"parameterValues": {"x": 1}}, "outputs": {"outputFile": "/tmp/o"}}',
        "[local-job] error: the job was stopped",
        "  | quoted: error: from an earlier message",
    ]
    assert cause_line(tail, "replica workerpool0-0 was killed by signal SIGKILL\nmore") == (
        "replica workerpool0-0 was killed by signal SIGKILL"
    )
    assert cause_line([], "") == ""


def _record(tmp_path: Path, **fields) -> RunRecord:
    run_dir = tmp_path / "gcs" / "local-pipeline-root" / "r-1"
    run_dir.mkdir(parents=True)
    return RunRecord(
        run_id="r-1",
        pipeline="p",
        pipeline_file="",
        state=fields.pop("state", "SUCCEEDED"),
        params={},
        record_dir=tmp_path / "runs" / "r-1",
        run_dir=run_dir,
        created="",
        **fields,
    )


def test_failure_lead_is_the_error_line_then_its_log(tmp_path):
    task = TaskRecord(name="custom-training-job", display_name="train", kind="step")
    record = _record(
        tmp_path,
        state="FAILED",
        error="task 'custom-training-job' failed: local job 'x' failed: ...\ncommand: python",
        failed_step="custom-training-job",
        cause="ValueError: no column price",
        cause_log="/h/jobs/1/logs/workerpool0-0.log",
        failure_log=["[workerpool0-0] ValueError: no column price"],
        tasks={"custom-training-job": task},
    )
    assert failure_lead(record).splitlines() == [
        "vtp: run r-1 failed in step custom-training-job [train]:",
        "  ValueError: no column price",
        "  log: /h/jobs/1/logs/workerpool0-0.log",
    ]
    summary = summarize(record)
    assert "last lines of custom-training-job:" in summary
    # vtp's own account in one line (run.json keeps the whole text)
    assert "error    task 'custom-training-job' failed: local job 'x' failed: ..." in summary


def test_summary_names_plots_reports_and_the_ui_page(tmp_path):
    evaluate = TaskRecord(name="evaluate-model", display_name="evaluate", kind="step", started="t1")
    evaluate.outputs = {
        "metrics": {
            "type": {"schemaTitle": "system.Metrics"},
            "uri": "gs://local-pipeline-root/r-1/evaluate-model/metrics",
            "metadata": {"auc": 0.9},
        },
        "classification_metrics": {
            "type": {"schemaTitle": "system.ClassificationMetrics"},
            "uri": "gs://local-pipeline-root/r-1/evaluate-model/classification_metrics",
            "metadata": {"confusionMatrix": {}, "confidenceMetrics": []},
        },
    }
    report = TaskRecord(name="trials-report", display_name="trials-report", kind="step")
    report.started = "t2"
    report.outputs = {
        "report": {
            "type": {"schemaTitle": "system.HTML"},
            "uri": "gs://local-pipeline-root/r-1/trials-report/report",
            "metadata": {"file": "gs://local-pipeline-root/r-1/trials-report/report.html"},
        }
    }
    record = _record(tmp_path, tasks={"evaluate-model": evaluate, "trials-report": report})
    (record.run_dir / "evaluate-model").mkdir()
    (record.run_dir / "evaluate-model" / "executor_output.json").write_text("{}")
    lines = summarize(record).splitlines()
    assert (
        "plots    evaluate-model [evaluate]: classification_metrics (confusion matrix, "
        "ROC curve), metrics"
    ) in lines
    assert f"         data in {record.run_dir}/evaluate-model/executor_output.json" in lines
    assert f"report   trials-report: {record.run_dir}/trials-report/report.html  (HTML)" in lines
    assert lines[-1] == "ui       http://127.0.0.1:8765/runs/r-1  (start it with `vtp ui`)"
    assert ui_address("r-1") == "http://127.0.0.1:8765/runs/r-1"


def test_summary_leaves_out_empty_metrics_and_says_results_without_plots(tmp_path):
    evaluate = TaskRecord(name="evaluate-model", display_name="evaluate", kind="step")
    evaluate.outputs = {
        "regression_metrics": {
            "type": {"schemaTitle": "google.RegressionMetrics"},
            "uri": "gs://local-pipeline-root/r-1/evaluate-model/regression_metrics",
            "metadata": {"rootMeanSquaredError": 0.3},
        },
        "classification_metrics": {
            "type": {"schemaTitle": "system.ClassificationMetrics"},
            "uri": "gs://local-pipeline-root/r-1/evaluate-model/classification_metrics",
            "metadata": {},
        },
    }
    record = _record(tmp_path, tasks={"evaluate-model": evaluate})
    lines = summarize(record).splitlines()
    assert "results  evaluate-model [evaluate]: regression_metrics" in lines
    assert not any("classification_metrics" in line for line in lines)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_replaces_a_steps_last_progress_line_on_a_terminal_only():
    from vtp.local.orchestrator.progress import ProgressOut

    lines = [
        ("  ...  tune", ""),
        ("  ...  tune: trials done 1 of 3", "tune"),
        ("  ...  tune: trials done 2 of 3", "tune"),
        ("  ok   other", ""),
        ("  ...  tune: trials done 3 of 3", "tune"),
    ]
    terminal, log = _Terminal(), io.StringIO()
    for out in (ProgressOut(terminal), ProgressOut(log)):
        for line, progress_of in lines:
            out.say(line, progress_of)
    up = "\033[1A\033[2K"
    # replaced only right after the same step's progress line; never in a log (CI)
    assert terminal.getvalue().count(up) == 1
    assert f"trials done 1 of 3\n{up}  ...  tune: trials done 2 of 3" in terminal.getvalue()
    assert log.getvalue() == "".join(line + "\n" for line, _ in lines)
    assert ProgressOut(_Terminal(), in_place=False).in_place is False  # -v streams logs


# --- vtp list ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PIPELINES)
def test_every_pipeline_parameter_has_a_description_in_the_compiled_yaml(name):
    spec = yaml.safe_load((REPO / "compiled" / "pipelines" / f"{name}.yaml").read_text())
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters
    assert [p for p, v in parameters.items() if not v.get("description", "").strip()] == []


def test_vtp_list_shows_each_parameters_description_wrapped(capsys, monkeypatch):
    from vtp.cli.main import main

    monkeypatch.setenv("COLUMNS", "60")
    assert main(["list", "training"]) == 0
    out = capsys.readouterr().out.splitlines()
    at = out.index("  data_source: String = 'sample://breast_cancer.csv'")
    described = []
    for line in out[at + 1 :]:
        if not line.startswith("      "):
            break
        described.append(line)
    assert len(described) > 1 and all(len(line) <= 60 for line in described)
    assert " ".join(line.strip() for line in described).startswith("CSV / Parquet / JSONL file")
    assert out.count("  project: String  (required)") == 1


# --- vtp tuning trials ---------------------------------------------------------------------


def _trial(trial_id: str, value: float | None, x: float) -> dict:
    trial = {"id": trial_id, "parameters": [{"parameterId": "x", "value": x}]}
    if value is None:
        return {**trial, "state": 5, "infeasibleReason": "replica exited with code 1"}
    metrics = [{"metricId": "rmse", "value": value}]
    return {**trial, "state": 4, "finalMeasurement": {"stepCount": "1", "metrics": metrics}}


@pytest.mark.parametrize(
    ("goal", "order"), [("MINIMIZE", ["3", "1", "4"]), ("MAXIMIZE", ["4", "1", "3"])]
)
def test_trials_sorted_by_the_metric_in_its_goal_direction_best_marked_failed_last(goal, order):
    trials = [_trial("1", 0.5, 0.1), _trial("2", None, 0.9), _trial("3", 0.2, 0.4)]
    trials.append(_trial("4", 0.8, 0.6))
    spec = {"metrics": [{"metric_id": "rmse", "goal": goal}], "parameters": []}
    lines = format_trials("77", trials, spec).splitlines()
    assert lines[0].startswith("tuning job 77: 4 finished trial(s), sorted by rmse")
    assert lines[1].split() == ["TRIAL", "STATE", "rmse", "x", "NOTE"]
    rows = [line.split() for line in lines[2:-1]]
    assert [r[1] if r[0] == "*" else r[0] for r in rows] == [*order, "2"]
    assert rows[0][0] == "*" and not any(r[0] == "*" for r in rows[1:])
    assert rows[-1][:2] == ["2", "INFEASIBLE"] and "exited" in lines[-2]
    assert lines[-1] == "* best trial"


def test_trials_without_a_study_spec_keep_finishing_order():
    text = format_trials("77", [_trial("2", 0.5, 0.1), _trial("1", 0.2, 0.3)], {})
    assert "in finishing order" in text.splitlines()[0]
    assert [line.split()[1] for line in text.splitlines()[1:]] == ["2", "1"]


# --- end to end ----------------------------------------------------------------------------


def _vtp(*args: str, home: Path, cwd: Path, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "vtp", *args, "--home", str(home)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


@pytest.mark.slow
@pytest.mark.xdist_group("e2e-cli-output")
def test_a_trainer_that_raises_leads_the_failure_with_its_exception_then_its_log(tmp_path):
    script = tmp_path / "trainer.py"  # the team's image, mapped to its command
    script.write_text(
        textwrap.dedent(
            """\
            def load(columns):
                raise ValueError(f"column 'price' is not in the training data: {columns}")

            print("loading", flush=True)
            load(["a", "b"])
            """
        )
    )
    home = tmp_path / "home"
    proc = _vtp(
        "run", "training", "--local", "--param", "trainer_image=team/trainer:1",
        home=home, cwd=tmp_path,
        env={"VTP_IMAGE_COMMANDS": json.dumps({"team/trainer": ["python", str(script)]})},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    error = "ValueError: column 'price' is not in the training data: ['a', 'b']"
    assert "FAIL  custom-training-job [train]" in proc.stderr
    lines = proc.stderr.splitlines()
    lead = next(i for i, line in enumerate(lines) if line.startswith("vtp: run training-"))
    assert lines[lead].endswith("failed in step custom-training-job [train]:")
    assert lines[lead + 1] == f"  {error}"
    log = Path(lines[lead + 2].removeprefix("  log: "))
    assert log.name == "workerpool0-0.log" and error in log.read_text()
    assert not any("Traceback" in line or "executor" in line for line in lines[: lead + 3])
    record = json.loads(next((home / "runs").glob("training-*/run.json")).read_text())
    assert record["cause"] == error and record["cause_log"] == str(log)
    assert record["tasks"]["custom-training-job"]["cause"] == error


TRAINER = """\
import argparse

import hypertune

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
args, _ = parser.parse_known_args()
hypertune.HyperTune().report_hyperparameter_tuning_metric(
    hyperparameter_metric_tag="score", metric_value=-((args.x - 0.3) ** 2), global_step=1
)
"""


@pytest.mark.slow
@pytest.mark.xdist_group("e2e-cli-output")
def test_gpu_trials_say_cpu_once_show_trials_done_and_list_sorted(tmp_path):
    from google_cloud_pipeline_components.v1.hyperparameter_tuning_job import (
        HyperparameterTuningJobRunOp,
    )

    from vtp.components.tuning.study import DoubleParameter, MetricSpec, StudySpec

    script = tmp_path / "trainer.py"
    script.write_text(TRAINER)
    study = StudySpec(
        metrics=[MetricSpec("score", "MAXIMIZE")], parameters=[DoubleParameter("x", 0.0, 1.0)]
    ).op_inputs()
    pool = {
        "machine_spec": {
            "machine_type": "n1-standard-4",
            "accelerator_type": "NVIDIA_TESLA_T4",
            "accelerator_count": 1,
        },
        "replica_count": 1,
        "container_spec": {"image_uri": "team/trainer:1", "command": ["python", str(script)]},
    }

    @dsl.pipeline(name="gpu-sweep")
    def sweep(project: str = "team-project", location: str = "us-central1"):
        HyperparameterTuningJobRunOp(
            display_name="gpu-sweep",
            project=project,
            location=location,
            base_output_directory="gs://local-pipeline-root/gpu-sweep",
            worker_pool_specs=[pool],
            max_trial_count=3,
            parallel_trial_count=2,
            **study,
        )

    path = compile_pipeline(sweep, tmp_path)
    home = tmp_path / "home"
    proc = _vtp("run", str(path), "--local", home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    said = "note: workerpool 0 asks for 1 x NVIDIA_TESLA_T4; this machine gives it no GPU"
    assert proc.stderr.count(said) == 1, proc.stderr  # 3 trials, said once
    progress = [line for line in proc.stderr.splitlines() if ": trials done " in line]
    assert [line.split("trials done ")[1][:6] for line in progress] == [
        "1 of 3",
        "2 of 3",
        "3 of 3",
    ]
    assert "(best so far score=" in progress[-1]
    events = [
        json.loads(line)
        for line in next((home / "runs").glob("gpu-sweep-*/events.jsonl")).read_text().splitlines()
    ]
    assert [e["kind"] for e in events].count("notice") == 1
    assert [e["kind"] for e in events].count("task_progress") == 3

    listing = _vtp("tuning", "trials", home=home, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    rows = [line.split() for line in listing.stdout.splitlines()[2:-1]]
    values = [float(r[3] if r[0] == "*" else r[2]) for r in rows]
    assert values == sorted(values, reverse=True) and rows[0][0] == "*"
    assert listing.stdout.splitlines()[-1] == "* best trial"
