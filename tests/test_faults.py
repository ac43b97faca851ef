"""Fault injection, for real: signals at random offsets into steps, replicas and trials,
concurrent runs, a full disk, killed registry uploads, a giant log line, a closed pipe.

What every case asserts: no process of the run is left (steps, replicas, trials and what they
started) within 5 seconds of the signal; every record parses (none is half-written, no
temporary file is left); what was running ends CANCELLED (at once for SIGINT, SIGTERM and
SIGHUP; for SIGKILL when the next command opens the home); no model is lost.

The kill-to-clean times are printed as `fault-figures` JSON lines (README, reliability).
"""

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest
from support.faults import (
    REPO,
    descendants,
    everything_running,
    fault_pipeline,
    leftovers,
    live,
    records,
    run_id_of,
    run_processes,
    start_vtp,
    stop_if_running,
    wait_for,
)
from support.pipelines import compile_pipeline

pytestmark = pytest.mark.slow
CLEAN_WITHIN_S = 5.0
SIGNALS = [
    ("SIGINT", "process"),
    ("SIGINT", "group"),
    ("SIGTERM", "process"),
    ("SIGTERM", "group"),
    ("SIGHUP", "process"),
    ("SIGHUP", "group"),
    ("SIGKILL", "process"),
    ("SIGKILL", "group"),
]


@pytest.fixture(scope="module")
def faults_yaml(tmp_path_factory) -> Path:
    return compile_pipeline(fault_pipeline(), tmp_path_factory.mktemp("faults"))


@pytest.mark.xdist_group("faults")
@pytest.mark.timeout(360)
@pytest.mark.parametrize(("name", "to"), SIGNALS, ids=[f"{s}-to-{t}" for s, t in SIGNALS])
def test_a_signal_stops_every_process_and_records_cancelled(name, to, faults_yaml, tmp_path):
    sig = getattr(signal, name)
    home = tmp_path / "home"
    vtp = start_vtp(faults_yaml, home, "--parallelism", "3")
    try:
        _signal_and_check(vtp, sig, name, to, home)
    finally:
        stop_if_running(vtp)


def _signal_and_check(vtp, sig, name: str, to: str, home: Path) -> None:
    run_id = wait_for(lambda: run_id_of(home), 120, "the run record", vtp)
    wait_for(lambda: everything_running(vtp.pid), 200, "every kind of step", vtp)
    offset = random.Random(f"{name}-{to}").uniform(0.0, 1.5)
    time.sleep(offset)  # a random point into the steps, the replica and the trials
    owned = [*descendants(vtp.pid), *run_processes(run_id)]
    sent = time.monotonic()
    if to == "group":
        os.killpg(vtp.pid, sig)
    else:
        vtp.send_signal(sig)
    deadline = sent + CLEAN_WITHIN_S
    while live(owned) and time.monotonic() < deadline:
        time.sleep(0.05)
    clean_s = time.monotonic() - sent
    left = [p.pid for p in live(owned)]
    assert left == [], f"{len(left)} processes still running {CLEAN_WITHIN_S} s after {name}"
    _out, err = vtp.communicate(timeout=30)
    print(json.dumps({"fault-figures": f"{name}-to-{to}", "offset_s": round(offset, 2),
                      "clean_s": round(clean_s, 2)}))  # fmt: skip
    if sig == signal.SIGKILL:
        assert vtp.returncode == -signal.SIGKILL
        assert records(home)[f"runs/{run_id}/run.json"]["state"] == "RUNNING"
        # the next command that opens the home marks what the killed vtp left
        tuning = subprocess.run(
            [sys.executable, "-m", "vtp", "tuning", "list", "--home", str(home)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert tuning.returncode == 0, tuning.stderr
        assert "JOB_STATE_CANCELLED" in tuning.stdout
    else:
        assert vtp.returncode == 130, err[-2000:]
        assert f"interrupted by {name}" in err
        assert f"--resume {run_id}" in err
    found = records(home)  # every record parses: none was half-written
    run = found[f"runs/{run_id}/run.json"]
    assert run["state"] == "CANCELLED"
    steps = {n: t["state"] for n, t in run["tasks"].items() if t["kind"] == "step"}
    assert set(steps.values()) == {"CANCELLED"}, steps
    jobs = [v for k, v in found.items() if k.startswith("jobs/")]
    assert [j["state"] for j in jobs] == ["JOB_STATE_CANCELLED"]
    (study,) = [v for k, v in found.items() if k.startswith("tuning/") and k.endswith("job.json")]
    assert study["state"] == "JOB_STATE_CANCELLED"
    assert len(study["stopped_trials"]) >= 2 and study["running_trials"] == []
    assert leftovers(home) == []


@pytest.mark.xdist_group("faults-resume")
@pytest.mark.timeout(300)
def test_an_interrupted_study_resumes_with_its_finished_trials(tmp_path):
    from google.cloud.aiplatform import hyperparameter_tuning as hpt
    from google_cloud_pipeline_components.v1.hyperparameter_tuning_job import (
        HyperparameterTuningJobRunOp,
        serialize_metrics,
        serialize_parameters,
    )
    from kfp import dsl

    # trial 1 finishes at once; the others sleep until the run is interrupted
    script = (
        "import os, sys, time, hypertune\n"
        "trial = int(os.environ['CLOUD_ML_TRIAL_ID'])\n"
        "hypertune.HyperTune().report_hyperparameter_tuning_metric("
        "hyperparameter_metric_tag='score', metric_value=trial / 10, global_step=1)\n"
        "time.sleep(0 if trial == 1 or os.path.exists(sys.argv[1]) else 300)\n"
    )
    release = tmp_path / "release"
    pool = [
        {
            "machine_spec": {"machine_type": "n1-standard-4"},
            "replica_count": 1,
            "container_spec": {
                "image_uri": "worker",
                "command": ["python", "-c", script, str(release)],
            },
        }
    ]

    @dsl.pipeline(name="study")
    def study():
        HyperparameterTuningJobRunOp(
            project="local-project",
            location="us-central1",
            display_name="resumable",
            base_output_directory="gs://faults/study",
            worker_pool_specs=pool,
            study_spec_metrics=serialize_metrics({"score": "maximize"}),
            study_spec_parameters=serialize_parameters(
                {"x": hpt.DoubleParameterSpec(min=0.0, max=1.0, scale="linear")}
            ),
            max_trial_count=4,
            parallel_trial_count=2,
        )

    path = compile_pipeline(study, tmp_path)
    home = tmp_path / "home"
    vtp = start_vtp(path, home)
    try:
        _interrupt_and_resume(vtp, path, home, release)
    finally:
        stop_if_running(vtp)


def _interrupt_and_resume(vtp, path: Path, home: Path, release: Path) -> None:
    run_id = wait_for(lambda: run_id_of(home), 120, "the run record", vtp)
    trials = home / "tuning"
    wait_for(
        lambda: any(
            json.loads(p.read_text()) for p in trials.glob("*/trials.json") if p.stat().st_size
        ),
        120,
        "trial 1 to finish",
        vtp,
    )
    wait_for(lambda: len(_study(home)["running_trials"]) == 2, 60, "two running trials", vtp)
    vtp.send_signal(signal.SIGINT)
    vtp.communicate(timeout=60)
    assert vtp.returncode == 130
    stopped = _study(home)
    assert stopped["state"] == "JOB_STATE_CANCELLED"
    assert [t["id"] for t in _trials(home)] == ["1"]
    assert sorted(stopped["stopped_trials"]) == ["2", "3"]  # recorded as stopped

    release.write_text("go")
    resumed = subprocess.run(
        [sys.executable, "-m", "vtp", "run", str(path), "--local", "--home", str(home),
         "--resume", run_id],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = _study(home)
    assert final["state"] == "JOB_STATE_SUCCEEDED"
    ids = [t["id"] for t in _trials(home)]
    assert ids[0] == "1" and len(ids) == 4  # the finished trial kept, three more run
    assert len(list(trials.iterdir())) == 1  # the same job, resumed
    run = json.loads((home / "runs" / run_id / "run.json").read_text())
    assert run["state"] == "SUCCEEDED" and run["options"]["resumed"]


def _study(home: Path) -> dict:
    (path,) = (home / "tuning").glob("*/job.json")
    return json.loads(path.read_text())


def _trials(home: Path) -> list:
    (path,) = (home / "tuning").glob("*/trials.json")
    return json.loads(path.read_text())


@pytest.mark.xdist_group("faults-concurrent")
@pytest.mark.timeout(600)
def test_four_concurrent_training_runs_in_one_home_stay_apart(tmp_path):
    home = tmp_path / "home"
    names = [f"model-{i}" for i in range(4)]
    procs = [
        start_vtp("training", home, "--param", f"model_display_name={name}",
                  "--param", f"data_source={REPO / 'data' / 'breast_cancer.csv'}",
                  "--parallelism", "1")
        for name in names
    ]  # fmt: skip
    try:
        for proc in procs:
            _out, err = proc.communicate(timeout=540)
            assert proc.returncode == 0, err[-3000:]
    finally:
        for proc in procs:
            stop_if_running(proc)
    runs = [json.loads(p.read_text()) for p in (home / "runs").glob("*/run.json")]
    assert len({r["run_id"] for r in runs}) == 4
    from vtp.local.registry import LocalModelRegistry

    registry = LocalModelRegistry(home / "registry.db")
    for run in runs:
        name = run["params"]["model_display_name"]
        # a new model (`model-upload-2`) or a new version of it (`model-upload`)
        task = "model-upload" if "model-upload" in run["tasks"] else "model-upload-2"
        upload = run["tasks"][task]["outputs"]["model"]["metadata"]["resourceName"]
        version = registry.get(upload)
        assert version.display_name == name
        artifact = run["tasks"]["unmanaged-container-model"]["outputs"]["model"]["uri"]
        assert version.artifact_uri == artifact.rstrip("/")
        assert run["tasks"]["load-dataset"]["outputs"]["train"]["uri"].startswith(
            f"gs://local-pipeline-root/{run['run_id']}/"
        )
    assert sorted(m.display_name for m in registry.list_models()) == names
    assert leftovers(home) == []


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.mark.xdist_group("faults-disk")
@pytest.mark.timeout(300)
def test_a_full_disk_fails_the_run_cleanly_and_loses_nothing(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "8m"):
        pytest.skip("no small file system can be mounted here (needs root and mount)")
    try:
        home = disk / "home"
        home.mkdir()
        shutil.copy(REPO / "data" / "breast_cancer.csv", disk / "data.csv")
        # a model registered earlier must survive the full disk
        from vtp.local.registry import LocalModelRegistry

        LocalModelRegistry(home / "registry.db").upload(
            display_name="kept", artifact_uri="gs://b/m", container_spec={"imageUri": "srv"}
        )
        free = shutil.disk_usage(disk).free
        (disk / "ballast").write_bytes(b"\0" * (free - 450 * 1024))  # the reserve and a little
        proc = start_vtp("training", home, "--param", f"data_source={disk / 'data.csv'}")
        try:
            _out, err = proc.communicate(timeout=240)
        finally:
            stop_if_running(proc)
        assert proc.returncode in (1, 2), err[-3000:]
        assert "No space left on device" in err or "not usable" in err, err[-3000:]
        assert "Traceback (most recent call last)" not in err.split("last lines")[0]
        found = records(home)  # every record parses
        for name, record in found.items():
            if name.startswith("runs/"):
                assert record["state"] in ("FAILED", "CANCELLED"), record["state"]
        assert leftovers(home) == []
        run_ids = [p.parent.name for p in home.glob("runs/*/run.json")]
        assert all(run_processes(r) == [] for r in run_ids)
        (disk / "ballast").unlink()
        registry = LocalModelRegistry(home / "registry.db")
        assert [m.display_name for m in registry.list_models()] == ["kept"]
        conn = sqlite3.connect(home / "registry.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


_UPLOADER = textwrap.dedent(
    """
    import sys
    from vtp.local.registry import LocalModelRegistry
    registry = LocalModelRegistry(sys.argv[1])
    for _ in range(10000):
        existing = registry.list_models()
        i = len(registry.list_versions("clf")) if existing else 0
        v = registry.upload(
            display_name="clf", artifact_uri=f"gs://b/m{i}", container_spec={"imageUri": "srv"},
            parent_model="clf" if existing else None, version_aliases=["latest-upload"],
            labels={"n": str(i)},
        )
        print(v.version_id, flush=True)
    """
)


@pytest.mark.xdist_group("faults-registry")
@pytest.mark.timeout(240)
def test_uploads_killed_at_random_offsets_lose_no_model(tmp_path):
    from vtp.local.registry import LocalModelRegistry

    db = tmp_path / "registry.db"
    rng = random.Random(11)
    confirmed = 0
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", _UPLOADER, str(db)],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        first = proc.stdout.readline()  # it is uploading
        assert first.strip()
        time.sleep(rng.uniform(0.0, 0.5))
        proc.kill()
        rest = proc.communicate()[0]
        printed = [first, *rest.splitlines()]
        confirmed = int(printed[-1]) if printed[-1].strip() else int(printed[-2])
        registry = LocalModelRegistry(db)
        versions = registry.list_versions("clf")
        # every upload that said it was done is there, at most one more (killed after commit)
        assert confirmed <= len(versions) <= confirmed + 1
        assert [v.version_id for v in versions] == [str(i + 1) for i in range(len(versions))]
        holders = [v.version_id for v in versions if "latest-upload" in v.version_aliases]
        assert holders == [versions[-1].version_id]  # each upload whole: its alias moved too
        assert all(v.labels["n"] == str(int(v.version_id) - 1) for v in versions)
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    assert confirmed > 0


@pytest.mark.xdist_group("faults-log")
@pytest.mark.timeout(240)
def test_a_giant_log_line_floods_neither_the_terminal_nor_memory(tmp_path):
    from kfp import dsl

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def shout(megabytes: int):
        import sys

        chunk = "x" * (1 << 20)
        for _ in range(megabytes):
            sys.stdout.write(chunk)
        sys.stdout.write("\n")
        sys.stdout.flush()

    @dsl.pipeline(name="shout")
    def loud():
        shout(megabytes=200)

    path = compile_pipeline(loud, tmp_path)
    home = tmp_path / "home"
    proc = start_vtp(path, home, "-v")
    peak = 0
    streams: dict = {}
    reader = threading.Thread(
        target=lambda: streams.update(zip(("out", "err"), proc.communicate(), strict=False)),
        daemon=True,
    )
    reader.start()  # the terminal keeps up: vtp never waits on a full pipe
    try:
        while proc.poll() is None:
            try:
                peak = max(peak, psutil.Process(proc.pid).memory_info().rss)
            except psutil.Error:
                break
            time.sleep(0.05)
        reader.join(60)
        out, err = streams["out"], streams["err"]
    finally:
        stop_if_running(proc)
    assert proc.returncode == 0, err[-2000:]
    assert peak < 400 * (1 << 20), f"vtp used {peak >> 20} MB for a 200 MB line"
    echoed = [line for line in out.splitlines() if "xxxx" in line]
    assert len(echoed) == 1 and len(echoed[0]) < 3000  # one line, cut, for a 200 MB line
    assert "the line continues in the log" in echoed[0]
    assert len(out) < 100_000
    log = next(home.glob("runs/*/logs/shout.log"))
    assert log.stat().st_size >= 200 * (1 << 20)  # the log keeps the line whole
    print(json.dumps({"fault-figures": "giant-line", "peak_rss_mb": peak >> 20}))


def test_a_closed_pipe_ends_vtp_quietly():
    for command in (["list"], ["list", "training"], ["check", "--help"]):
        done = subprocess.run(
            f"{sys.executable} -m vtp {' '.join(command)} | head -1",
            shell=True, cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0
        assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
