"""Fault injection helpers: a pipeline with long steps of every kind, the processes a run
owns, and the records to check after it was stopped.

The pipeline (`fault_pipeline`) runs, at the same time: a lightweight Python step, a custom
job (GCPC's launcher on the local twin) whose replica starts a child of its own, and a
hyperparameter tuning job whose trials run two at a time and report a metric before they
sleep. Every one of them runs long enough to be interrupted.
"""

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]

#: A replica and a trial: report a metric, start a child that outlives nothing, then sleep.
_WORKER = (
    "import os, subprocess, sys, time\n"
    "try:\n"
    "    import hypertune\n"
    "    hypertune.HyperTune().report_hyperparameter_tuning_metric("
    "hyperparameter_metric_tag='score', metric_value=0.5, global_step=1)\n"
    "except Exception:\n"
    "    pass\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
    "print('worker running', flush=True)\n"
    "time.sleep(300)\n"
)


def fault_pipeline():
    from google.cloud.aiplatform import hyperparameter_tuning as hpt
    from google_cloud_pipeline_components.v1.custom_job import CustomTrainingJobOp
    from google_cloud_pipeline_components.v1.hyperparameter_tuning_job import (
        HyperparameterTuningJobRunOp,
        serialize_metrics,
        serialize_parameters,
    )
    from kfp import dsl

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def long_step(seconds: float) -> str:
        import subprocess
        import sys
        import time

        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        print("step running", flush=True)
        time.sleep(seconds)
        return "done"

    pool = [
        {
            "machine_spec": {"machine_type": "n1-standard-4"},
            "replica_count": 1,
            "container_spec": {"image_uri": "worker", "command": ["python", "-c", _WORKER]},
        }
    ]

    @dsl.pipeline(name="faults")
    def pipeline(project: str = "local-project"):
        long_step(seconds=300.0)
        CustomTrainingJobOp(
            project=project,
            location="us-central1",
            display_name="fault-job",
            worker_pool_specs=pool,
            base_output_directory="gs://faults/job",
        )
        HyperparameterTuningJobRunOp(
            project=project,
            location="us-central1",
            display_name="fault-study",
            base_output_directory="gs://faults/study",
            worker_pool_specs=pool,
            study_spec_metrics=serialize_metrics({"score": "maximize"}),
            study_spec_parameters=serialize_parameters(
                {"x": hpt.DoubleParameterSpec(min=0.0, max=1.0, scale="linear")}
            ),
            max_trial_count=4,
            parallel_trial_count=2,
        )

    return pipeline


def start_vtp(target: str | Path, home: Path, *args: str) -> subprocess.Popen:
    """`vtp run TARGET --local` as a process in its own session (its group can be signalled)."""
    return subprocess.Popen(
        [sys.executable, "-m", "vtp", "run", str(target), "--local", "--home", str(home), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def run_processes(run_id: str) -> list[psutil.Process]:
    """Live processes started for run `run_id` (they carry `VTP_RUN_ID`)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("VTP_RUN_ID") == run_id and proc.status() != "zombie":
                found.append(proc)
    return found


def descendants(pid: int) -> list[psutil.Process]:
    """Every process below `pid` (a zygote's children have the zygote's command line and
    environment, so they are found by their parent, not by `VTP_RUN_ID`)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def everything_running(pid: int) -> list[psutil.Process] | None:
    """The processes of the fault pipeline's run under vtp `pid`, once all of them run: the
    step (and its child), the job's replica and two trials (each with its child)."""
    procs = descendants(pid)
    lines = []
    for proc in procs:
        try:
            lines.append(" ".join(proc.cmdline()))
        except psutil.Error:
            continue
    step = any("_component_main" in line for line in lines) or (
        sum("orchestrator._zygote" in line for line in lines) >= 2
    )
    workers = sum("hypertune" in line for line in lines)
    children = sum(line.endswith("import time; time.sleep(300)") for line in lines)
    SEEN[:] = [f"step={step} workers={workers} children={children}", *(x[:80] for x in lines)]
    return procs if step and workers >= 3 and children >= 4 else None


#: What `everything_running` saw last (for a timeout's message).
SEEN: list[str] = []


def stop_if_running(proc: subprocess.Popen) -> None:
    """Ends a vtp a failed test left running, with everything it started."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=20)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.communicate()


def live(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"vtp ended before {what}: {err[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {SEEN}")
        time.sleep(0.1)


def run_id_of(home: Path) -> str | None:
    runs = list((home / "runs").glob("*/run.json")) if (home / "runs").is_dir() else []
    return runs[0].parent.name if runs else None


def json_files(home: Path) -> list[Path]:
    return [
        *home.glob("runs/*/run.json"),
        *home.glob("jobs/*/job.json"),
        *home.glob("tuning/*/job.json"),
        *home.glob("tuning/*/trials.json"),
    ]


def leftovers(home: Path) -> list[Path]:
    """Temporary files of atomic writes left behind."""
    return [p for p in home.rglob("*.tmp") if p.is_file()]


def records(home: Path) -> dict[str, object]:
    """Every JSON record under `home`, parsed (a half-written one fails here)."""
    return {str(p.relative_to(home)): json.loads(p.read_text()) for p in json_files(home)}
