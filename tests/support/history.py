"""A vtp home written the way vtp writes it, without running a pipeline: run records (the
orchestrator's own `RunRecord` classes), a copy of each run's compiled DAG, task logs, a
tuning job's `job.json` / `trials.json` and models uploaded into the real SQLite registry.

For the fast tests of the read layer (`vtp.local.history`), `vtp runs` and the UI's routes;
the end-to-end tests read the homes real runs leave.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from vtp.home import LocalHome
from vtp.local.orchestrator import records as rec
from vtp.local.registry import LocalModelRegistry

PROJECT, LOCATION = "local-project", "us-central1"
TRAIN_RUN = "training-20260101-000000-aaaaaa"
FAILED_RUN = "training-20260102-000000-bbbbbb"
ABANDONED_RUN = "training-20260103-000000-cccccc"
REGRESSION_RUN = "regression-20260104-000000-dddddd"
TUNING_RUN = "tuning-20260105-000000-eeeeee"
TUNING_JOB = "1234567890"
SERVING = {"imageUri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"}

#: The DAG of the small training pipeline: load -> spec -> train -> evaluate -> gate ->
#: condition-1 { upload }.
TRAINING_DAG = {
    "root": {
        "dag": {
            "tasks": {
                "load-dataset": {"componentRef": {"name": "comp-load-dataset"}},
                "training-job-spec": {
                    "componentRef": {"name": "comp-spec"},
                    "dependentTasks": ["load-dataset"],
                },
                "custom-training-job": {
                    "componentRef": {"name": "comp-custom-training-job"},
                    "dependentTasks": ["training-job-spec"],
                },
                "evaluate-model": {
                    "componentRef": {"name": "comp-evaluate-model"},
                    "dependentTasks": ["custom-training-job", "load-dataset"],
                },
                "condition-1": {
                    "componentRef": {"name": "comp-condition-1"},
                    "dependentTasks": ["evaluate-model"],
                },
            }
        }
    },
    "components": {
        "comp-condition-1": {
            "dag": {"tasks": {"model-upload": {"componentRef": {"name": "comp-model-upload"}}}}
        },
        "comp-load-dataset": {"executorLabel": "exec-load-dataset"},
    },
}


def _artifact(schema: str, uri: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"projects/{PROJECT}/locations/{LOCATION}/metadataStores/default/artifacts/1",
        "type": {"schemaTitle": schema, "schemaVersion": "0.0.1"},
        "uri": uri,
        "metadata": metadata,
    }


def _task(
    record: rec.RunRecord,
    name: str,
    *,
    started: str,
    seconds: float,
    state: str = rec.SUCCEEDED,
    kind: str = "step",
    parent: str = "",
    inputs: dict | None = None,
    outputs: dict | None = None,
    resources: list[str] | None = None,
    error: str = "",
    log: list[str] | None = None,
    display_name: str = "",
) -> None:
    log_path = ""
    if log is not None:
        path = record.record_dir / "logs" / f"{rec.safe_name(name)}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in log))
        log_path = str(path)
    record.tasks[name] = rec.TaskRecord(
        name=name,
        display_name=display_name or name,
        kind=kind,
        state=state,
        parent=parent,
        started=started,
        ended=started,
        seconds=seconds,
        attempts=[rec.Attempt(1, started, started, state, error)] if kind == "step" else [],
        inputs=inputs or {"parameters": {}, "artifacts": {}},
        outputs=outputs or {},
        log=log_path,
        resources=resources or [],
        error=error,
    )


def _record(home: LocalHome, run_id: str, pipeline: str, state: str, **fields) -> rec.RunRecord:
    record_dir = home.runs / run_id
    record_dir.mkdir(parents=True)
    (record_dir / "pipeline.yaml").write_text(yaml.safe_dump(TRAINING_DAG))
    run_dir = home.pipeline_root / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    day = run_id.split("-")[1]
    when = f"{day[:4]}-{day[4:6]}-{day[6:]}T00:00:00.000Z"
    record = rec.RunRecord(
        run_id=run_id,
        pipeline=pipeline,
        pipeline_file=f"/compiled/{pipeline}.yaml",
        state=state,
        params=fields.pop("params", {"learning_rate": 0.1, "data_source": "sample://x.csv"}),
        record_dir=record_dir,
        run_dir=run_dir,
        created=when,
        started=when,
        ended=when,
        seconds=fields.pop("seconds", 12.5),
        **fields,
    )
    record.log_path.write_text("run log\n")
    return record


def _training_steps(record: rec.RunRecord, home: LocalHome, model: str | None, day: str) -> None:
    def at(second: int) -> str:
        return f"{day}T00:00:{second:02d}.000Z"

    data = f"gs://local-pipeline-root/{record.run_id}/load-dataset"
    model_dir = f"gs://local-pipeline-root/{record.run_id}-job/custom-job/model"
    local_model = home.gcs_root / model_dir[len("gs://") :]
    local_model.mkdir(parents=True, exist_ok=True)
    (local_model / "model.joblib").write_bytes(b"not a model")
    for split in ("train", "test"):
        (home.gcs_root / data[len("gs://") :]).mkdir(parents=True, exist_ok=True)
        (home.gcs_root / data[len("gs://") :] / split).write_text("a,b\n1,2\n")
    _task(
        record,
        "load-dataset",
        started=at(1),
        seconds=0.5,
        inputs={"parameters": {"source": "sample://x.csv"}, "artifacts": {}},
        outputs={
            "train": _artifact("system.Dataset", f"{data}/train", {"row_count": 400}),
            "test": _artifact("system.Dataset", f"{data}/test", {"row_count": 60}),
        },
        log=["loading sample://x.csv", "wrote 460 rows"],
    )
    _task(record, "training-job-spec", started=at(2), seconds=0.1, log=["spec"])
    pools = [
        {
            "machine_spec": {"machine_type": "n1-standard-4"},
            "replica_count": 1,
            "container_spec": {
                "image_uri": "vtp-trainer:0.1.0",
                "command": ["python", "-m", "trainer.task"],
                "args": ["--target-column=target", "--learning-rate=0.1", "--max-iter=50"],
            },
        }
    ]
    _task(
        record,
        "custom-training-job",
        display_name="train",
        started=at(3),
        seconds=3.0,
        inputs={
            "parameters": {
                "base_output_directory": model_dir.rsplit("/", 1)[0],
                "worker_pool_specs": pools,
            },
            "artifacts": {},
        },
        resources=[f"projects/{PROJECT}/locations/{LOCATION}/customJobs/42"],
        log=["training", "done"],
    )
    model_art = _artifact("google.UnmanagedContainerModel", model_dir, {"containerSpec": SERVING})
    _task(
        record,
        "evaluate-model",
        display_name="evaluate",
        started=at(4),
        seconds=1.2,
        inputs={"parameters": {}, "artifacts": {"model": model_art}},
        outputs={
            "primary_metric_value": 0.97,
            "metrics": _artifact(
                "system.Metrics",
                f"gs://local-pipeline-root/{record.run_id}/evaluate-model/metrics",
                {"auc": 0.97, "accuracy": 0.9, "test_rows": 60},
            ),
            "classification_metrics": _artifact(
                "system.ClassificationMetrics",
                f"gs://local-pipeline-root/{record.run_id}/evaluate-model/cm",
                {
                    "confusionMatrix": {
                        "annotationSpecs": [{"displayName": "0"}, {"displayName": "1"}],
                        "rows": [{"row": [20, 2]}, {"row": [4, 34]}],
                    },
                    "confidenceMetrics": [
                        {"confidenceThreshold": 1.0, "recall": 0.0, "falsePositiveRate": 0.0},
                        {"confidenceThreshold": 0.8, "recall": 0.7, "falsePositiveRate": 0.05},
                        {"confidenceThreshold": 0.5, "recall": 0.9, "falsePositiveRate": 0.1},
                        {"confidenceThreshold": 0.0, "recall": 1.0, "falsePositiveRate": 1.0},
                    ],
                },
            ),
        },
        log=["evaluated on 60 rows"],
    )
    _task(record, "condition-1", kind="dag", started=at(5), seconds=0.1)
    _task(
        record,
        "model-upload",
        parent="condition-1",
        started=at(6),
        seconds=0.1,
        inputs={"parameters": {}, "artifacts": {"unmanaged_container_model": model_art}},
        resources=[model] if model else [],
        log=["uploaded"],
    )


def write_home(root: Path) -> LocalHome:
    """A home with a succeeded training run that registered version 1, a failed run, an
    abandoned run (recorded RUNNING, its process gone), a regression run and a tuning run
    whose job registered version 2."""
    home = LocalHome(root).create()
    registry = LocalModelRegistry(home.registry_db)
    first = registry.upload(
        display_name="classifier",
        artifact_uri=f"gs://local-pipeline-root/{TRAIN_RUN}-job/custom-job/model",
        container_spec=SERVING,
        labels={"pipeline": "training"},
        model_id="classifier-model",
    )

    record = _record(home, TRAIN_RUN, "training", rec.SUCCEEDED)
    _training_steps(record, home, first.resource_name, "2026-01-01")
    record.save()

    failed = _record(home, FAILED_RUN, "training", rec.FAILED, error="step train failed")
    _task(failed, "load-dataset", started="2026-01-02T00:00:01.000Z", seconds=0.4, log=["ok"])
    _task(
        failed,
        "custom-training-job",
        display_name="train",
        state=rec.FAILED,
        started="2026-01-02T00:00:02.000Z",
        seconds=1.5,
        error="replica workerpool0-0 exited with code 1: ValueError: bad learning rate",
        log=[f"line {i}" for i in range(30)] + ["ValueError: bad learning rate"],
    )
    _task(
        failed,
        "evaluate-model",
        state=rec.NOT_TRIGGERED,
        started="",
        seconds=0.0,
        error="upstream task 'custom-training-job' did not succeed",
    )
    failed.failure_log = ["ValueError: bad learning rate"]
    failed.save()

    abandoned = _record(home, ABANDONED_RUN, "training", rec.RUNNING, pid=0)
    _task(
        abandoned, "load-dataset", state=rec.RUNNING, started="2026-01-03T00:00:01.000Z", seconds=0
    )
    abandoned.save()

    regression = _record(
        home, REGRESSION_RUN, "regression", rec.SUCCEEDED, params={"data_source": "sample://r"}
    )
    actual = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    predicted = [1.2, 1.8, 3.3, 3.9, 5.4, 5.7]
    _task(
        regression,
        "evaluate-model",
        started="2026-01-04T00:00:01.000Z",
        seconds=1.0,
        outputs={
            "metrics": _artifact(
                "system.Metrics",
                "gs://local-pipeline-root/r/metrics",
                {"rmse": 0.29, "mae": 0.27, "r2": 0.97, "residual_mean": -0.02, "test_rows": 6},
            ),
            "regression_metrics": _artifact(
                "google.RegressionMetrics",
                "gs://local-pipeline-root/r/regression_metrics",
                {
                    "rootMeanSquaredError": 0.29,
                    "actualValues": actual,
                    "predictedValues": predicted,
                },
            ),
        },
        log=["evaluated"],
    )
    regression.save()

    _tuning(home, registry, first)
    return home


def _tuning(home: LocalHome, registry: LocalModelRegistry, parent) -> None:
    job_dir = home.root / "tuning" / TUNING_JOB
    job_dir.mkdir(parents=True)
    prefix = "gs://local-pipeline-root/tuning-job-uuid/tuning-job"
    spec = {
        "metrics": [{"metric_id": "auc", "goal": 1.0}],
        "parameters": [
            {
                "parameter_id": "learning_rate",
                "double_value_spec": {"min_value": 0.01, "max_value": 0.3},
                "scale_type": 2.0,
            },
            {
                "parameter_id": "max_iter",
                "integer_value_spec": {"min_value": "10", "max_value": "100"},
                "scale_type": 1.0,
            },
        ],
    }
    job = {
        "job": {
            "display_name": "study",
            "study_spec": spec,
            "trial_job_spec": {
                "worker_pool_specs": [
                    {
                        "machine_spec": {"machine_type": "n1-standard-4"},
                        "replica_count": 1,
                        "container_spec": {
                            "image_uri": "vtp-trainer:0.1.0",
                            "command": ["python", "-m", "trainer.task"],
                            "args": ["--metric=auc"],
                        },
                    }
                ],
                "base_output_directory": {"output_uri_prefix": prefix},
            },
        },
        "run_id": TUNING_RUN,
        "display_name": "study",
        "state": "JOB_STATE_SUCCEEDED",
        "create_time": "2026-01-05T00:00:00Z",
        "end_time": "2026-01-05T00:01:00Z",
        "max_trial_count": 3,
        "parallel_trial_count": 2,
        "sampler": "TPESampler",
        "seed": 7,
    }
    trials = [
        _trial("1", 0.91, 0.05, 20.0),
        _trial("2", 0.97, 0.12, 80.0),
        {"id": "3", "state": 5, "parameters": _params(0.29, 99.0), "infeasibleReason": "NaN"},
    ]
    (job_dir / "job.json").write_text(json.dumps(job))
    (job_dir / "trials.json").write_text(json.dumps(trials))
    version = registry.upload(
        display_name="classifier",
        artifact_uri=f"{prefix}/2/model",
        container_spec=SERVING,
        parent_model=parent.model_resource_name,
        version_aliases=["champion"],
        labels={"pipeline": "tuning"},
    )
    record = _record(home, TUNING_RUN, "tuning", rec.SUCCEEDED, seconds=75.0)
    _task(
        record,
        "hyperparameter-tuning-job",
        started="2026-01-05T00:00:01.000Z",
        seconds=60.0,
        resources=[
            f"projects/{PROJECT}/locations/{LOCATION}/hyperparameterTuningJobs/{TUNING_JOB}"
        ],
        log=["trial 1", "trial 2"],
    )
    _task(
        record,
        "model-upload",
        started="2026-01-05T00:01:05.000Z",
        seconds=0.1,
        resources=[version.resource_name],
        log=["uploaded"],
    )
    record.save()


def _params(lr: float, it: float) -> list[dict]:
    return [{"parameterId": "learning_rate", "value": lr}, {"parameterId": "max_iter", "value": it}]


def _trial(trial_id: str, auc: float, lr: float, it: float) -> dict:
    return {
        "id": trial_id,
        "state": 4,
        "parameters": _params(lr, it),
        "finalMeasurement": {"stepCount": "10", "metrics": [{"metricId": "auc", "value": auc}]},
    }
