"""The distributed example trainer, run as real replica processes by the local job executor.

The replicas really talk: a primary and two workers join XGBoost's tracker on the primary's
address and train in XGBoost's collective; every rank must end with the same model, bit for
bit, and that model must be the one a single process training on all the rows gets. Also: the
cluster variables each replica sees, a worker killed mid-training, and a Reduction Server pool
that is not started.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import xgboost
from support.waiting import wait_until

from trainer import TrainerError
from trainer.distributed import cluster, task
from vtp.components.evaluation.metrics import evaluate
from vtp.defaults import DISTRIBUTED_TRAINER_IMAGE
from vtp.local._pools import parse_pools
from vtp.local.executor import JobState, LocalJob, LocalJobFailed, run_local_job
from vtp.local.replica_env import OutputDirs, plan_replicas, replica_env

# replicas are real processes that train in XGBoost's collective: `pytest -m 'not slow'` leaves
# them out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
REDUCTION_SERVER = "us-docker.pkg.dev/vertex-ai-restricted/training/reductionserver:latest"
TRAIN_ROWS = 470
CLUSTER_VARS = ("CLUSTER_SPEC", "TF_CONFIG", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Train (470 rows) and validation (50 rows) splits of the shipped data, as Parquet."""
    root = tmp_path_factory.mktemp("data")
    frame = pd.read_csv(REPO / "data" / "breast_cancer.csv").sample(frac=1.0, random_state=7)
    paths = {"train": root / "train.parquet", "validation": root / "validation.parquet"}
    frame.iloc[:TRAIN_ROWS].to_parquet(paths["train"])
    frame.iloc[TRAIN_ROWS : TRAIN_ROWS + 50].to_parquet(paths["validation"])
    return paths


@pytest.fixture(autouse=True)
def process_runtime(monkeypatch):
    monkeypatch.delenv("VTP_RUNTIME", raising=False)  # replicas as local processes
    for name in CLUSTER_VARS:
        monkeypatch.delenv(name, raising=False)


def trainer_pool(data: dict[str, Path], replicas: int = 1, *args: str) -> dict:
    return {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": replicas,
        "container_spec": {
            "image_uri": DISTRIBUTED_TRAINER_IMAGE,
            "command": ["python", "-m", "trainer.distributed.task"],
            "args": list(args),
            "env": [
                {"name": "AIP_TRAINING_DATA_URI", "value": str(data["train"])},
                {"name": "AIP_VALIDATION_DATA_URI", "value": str(data["validation"])},
            ],
        },
    }


def run(tmp_path: Path, pools: list[dict], lines: list[str]):
    job = LocalJob("distributed-test", pools, base_output_directory=str(tmp_path / "out"))
    return run_local_job(
        job,
        work_dir=tmp_path / "work",
        gcs_root=tmp_path / "gcs",
        image_commands={},
        log=lines.append,
        cwd=REPO / "trainers",
        extra_env={"CLOUD_ML_HP_METRIC_FILE": str(tmp_path / "hypertune" / "output.metrics")},
    )


def log_of(tmp_path: Path, replica: str) -> str:
    return (tmp_path / "work" / "logs" / f"{replica}.log").read_text()


def logged_env(log: str) -> dict[str, str]:
    (line,) = [x for x in log.splitlines() if "trainer.distributed: environment: " in x]
    return json.loads(line.split("environment: ", 1)[1])


def digest_of(log: str) -> str:
    (found,) = re.findall(r"rank \d+: model sha256 ([0-9a-f]{64})", log)
    return found


def train_alone(data: dict[str, Path], runs: dict[Path, Path]) -> None:
    """One process per `{training file: model dir}`, no cluster variables, run side by side."""
    env = {k: v for k, v in os.environ.items() if k not in CLUSTER_VARS}
    procs = []
    for train, model_dir in runs.items():
        env["CLOUD_ML_HP_METRIC_FILE"] = str(model_dir.parent / f"{model_dir.name}.metrics")
        argv = [
            sys.executable,
            "-m",
            "trainer.distributed.task",
            f"--training-data={train}",
            f"--validation-data={data['validation']}",
            f"--model-dir={model_dir}",
        ]
        procs.append(
            subprocess.Popen(argv, cwd=REPO / "trainers", env=dict(env), stdout=subprocess.DEVNULL)
        )
    try:
        assert [p.wait(timeout=120) for p in procs] == [0] * len(procs)
    finally:
        for p in procs:
            p.kill()


def replicas_under(gcs_root: Path) -> list[psutil.Process]:
    """Live processes started by the executor for a job whose Cloud Storage root is `gcs_root`."""
    found = []
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("VTP_GCS_ROOT") == str(gcs_root.resolve()):
                found.append(proc)
    return found


@pytest.mark.slow
@pytest.mark.xdist_group("distributed-trainer")
def test_primary_and_two_workers_train_the_model_one_process_trains_on_all_rows(tmp_path, data):
    lines: list[str] = []
    pools = [
        trainer_pool(data, 1, "--log-environment"),
        trainer_pool(data, 2, "--log-environment"),
        {},
        trainer_pool(data, 1, "--log-environment"),
    ]
    result = run(tmp_path, pools, lines)
    assert result.state is JobState.SUCCEEDED
    names = ["workerpool0-0", "workerpool1-0", "workerpool1-1", "workerpool3-0"]
    assert [r.name for r in result.replicas] == names
    logs = {name: log_of(tmp_path, name) for name in names}

    # What each replica saw: CLUSTER_SPEC / TF_CONFIG / MASTER_* / RANK as documented.
    envs = {name: logged_env(logs[name]) for name in names}
    spec = json.loads(envs["workerpool0-0"]["CLUSTER_SPEC"])
    primary_address = spec["cluster"]["workerpool0"][0]
    roles = {
        "workerpool0-0": ("chief", 0, "0"),
        "workerpool1-0": ("worker", 0, "1"),
        "workerpool1-1": ("worker", 1, "2"),
        "workerpool3-0": ("evaluator", 0, None),
    }
    for name, (tf_role, index, rank) in roles.items():
        env = envs[name]
        own = json.loads(env["CLUSTER_SPEC"])
        assert own["task"] == {"type": name.split("-")[0], "index": index}
        assert own["cluster"] == spec["cluster"]
        tf = json.loads(env["TF_CONFIG"])
        assert tf["task"] == {"type": tf_role, "index": index}
        assert tf["cluster"] == {
            "chief": spec["cluster"]["workerpool0"],
            "worker": spec["cluster"]["workerpool1"],
        }  # the evaluator is never in TF_CONFIG's cluster
        assert f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}" == primary_address
        assert env["WORLD_SIZE"] == "3" and env.get("RANK") == rank
        assert env["AIP_MODEL_DIR"] == result.model_dir
        assert f"replica {name}: role " in logs[name]

    # XGBoost's tracker ran on the primary's address; each rank trained on its shard ...
    assert f"its port published at {primary_address}" in logs["workerpool0-0"]
    shards = [re.search(r"shard of (\d+) of 470", logs[n]).group(1) for n in names[:3]]
    assert shards == ["157", "157", "156"]
    # ... and every rank ended with the same model, bit for bit.
    sums = {name: digest_of(logs[name]) for name in names[:3]}
    assert len(set(sums.values())) == 1
    model_dir = Path(result.model_dir)
    metadata = json.loads((model_dir / "model_metadata.json").read_text())
    assert metadata["distributed"] == {"world_size": 3, "model_sha256": sums}
    assert metadata["training_rows"] == TRAIN_ROWS and metadata["framework"] == "xgboost"

    # Only the primary wrote the model, in the format Vertex's XGBoost container serves.
    assert sorted(p.name for p in model_dir.iterdir()) == ["model.bst", "model_metadata.json"]
    assert all("wrote model.bst" not in logs[name] for name in names[1:])

    # ONE model: the group's equals one process training on all the rows; one shard differs.
    shard = tmp_path / "shard0.parquet"
    pd.read_parquet(data["train"]).iloc[0::3].to_parquet(shard)
    train_alone(data, {data["train"]: tmp_path / "alone", shard: tmp_path / "shard0"})
    alone = json.loads((tmp_path / "alone" / "model_metadata.json").read_text())
    assert set(alone["distributed"]["model_sha256"].values()) == set(sums.values())
    one_shard = json.loads((tmp_path / "shard0" / "model_metadata.json").read_text())
    assert set(one_shard["distributed"]["model_sha256"].values()) != set(sums.values())
    alone_booster = xgboost.Booster(model_file=str(tmp_path / "alone" / "model.bst"))
    group_booster = xgboost.Booster(model_file=str(model_dir / "model.bst"))
    validation = pd.read_parquet(data["validation"])
    x = xgboost.DMatrix(validation[metadata["feature_names"]].to_numpy())
    assert np.array_equal(alone_booster.predict(x), group_booster.predict(x))

    # A model the evaluation step loads, and metrics hypertune can read.
    scores = evaluate(str(model_dir), str(data["validation"]))
    assert scores.task == "binary" and scores.scalars["auc"] > 0.95
    reports = [
        json.loads(x) for x in (tmp_path / "hypertune" / "output.metrics").read_text().splitlines()
    ]
    reported = {k: float(v) for r in reports for k, v in r.items() if k in scores.scalars}
    assert reported == pytest.approx(metadata["validation_metrics"])

    # The evaluator waited for the primary's model and scored it.
    (line,) = [
        x for x in logs["workerpool3-0"].splitlines() if "metrics of the primary's model" in x
    ]
    assert json.loads(line.split("model: ", 1)[1]) == pytest.approx(metadata["validation_metrics"])


@pytest.mark.slow
@pytest.mark.xdist_group("distributed-trainer")
def test_a_worker_killed_mid_training_fails_the_job_naming_it(tmp_path, data):
    lines: list[str] = []
    crash = ("--fail-rank=2", "--fail-at-round=5", "--rendezvous-timeout=30")
    pools = [trainer_pool(data, 1, *crash), trainer_pool(data, 2, *crash)]
    with pytest.raises(LocalJobFailed) as caught:
        run(tmp_path, pools, lines)
    assert caught.value.replica == "workerpool1-1"
    message = str(caught.value)
    assert "replica workerpool1-1 was killed by signal SIGKILL" in message
    assert "rank 2: simulated crash at round" in message
    assert caught.value.result.state is JobState.FAILED
    wait_until(lambda: not replicas_under(tmp_path / "gcs"))  # the job stopped them all


@pytest.mark.slow
@pytest.mark.xdist_group("distributed-trainer")
def test_reduction_server_pool_is_skipped_with_one_log_line(tmp_path, data):
    lines: list[str] = []
    reducers = {
        "machine_spec": {"machine_type": "n1-highcpu-16"},
        "replica_count": 2,
        "container_spec": {"image_uri": REDUCTION_SERVER},
    }
    rounds = "--num-boost-round=10"
    pools = [trainer_pool(data, 1, rounds), trainer_pool(data, 2, rounds), reducers]
    result = run(tmp_path, pools, lines)
    assert result.state is JobState.SUCCEEDED
    assert [r.name for r in result.replicas] == ["workerpool0-0", "workerpool1-0", "workerpool1-1"]
    notes = [line for line in lines if "Reduction Server" in line]
    assert len(notes) == 1, notes
    assert "workerpool2" in notes[0] and "not started" in notes[0]
    assert "rank 0 of world size 3" in log_of(tmp_path, "workerpool0-0")
    metadata = json.loads((Path(result.model_dir) / "model_metadata.json").read_text())
    assert metadata["distributed"]["world_size"] == 3


# -- where a replica sits: the executor's environment, read by the trainer -------------------


def executor_envs(layout: list[int]) -> dict[str, dict[str, str]]:
    """The environment the local executor gives each replica of a job with `layout` replicas
    per pool (0 = unused pool), built by its own functions."""
    raw = [
        {"replica_count": n, "container_spec": {"image_uri": "img", "command": ["t"]}} if n else {}
        for n in layout
    ]
    replicas = plan_replicas(parse_pools(raw))
    return {
        r.name: replica_env(
            r, replicas, job_spec={}, gcs_root="/tmp/gcs", dirs=OutputDirs(), environ={}
        )
        for r in replicas
    }


def test_cluster_roles_from_the_executor_environment():
    envs = executor_envs([1, 2, 1, 1])
    primary_port = int(envs["workerpool0-0"]["MASTER_PORT"])
    expected = {
        "workerpool0-0": (cluster.PRIMARY, 0),
        "workerpool1-0": (cluster.WORKER, 1),
        "workerpool1-1": (cluster.WORKER, 2),
        "workerpool2-0": (cluster.PARAMETER_SERVER, None),
        "workerpool3-0": (cluster.EVALUATOR, None),
    }
    for name, (role, rank) in expected.items():
        where = cluster.from_env(envs[name])
        assert (where.role, where.rank, where.name) == (role, rank, name)
        assert (where.world_size, where.primary_host) == (3, "127.0.0.1")
        assert where.primary_port == primary_port and where.bind_host == "127.0.0.1"

    alone = cluster.from_env(executor_envs([1])["workerpool0-0"])
    assert (alone.role, alone.rank, alone.world_size) == (cluster.PRIMARY, 0, 1)
    assert cluster.from_env({}).world_size == 1


def test_cluster_rank_variables_alone_and_contradictions():
    torch = {
        "RANK": "2",
        "WORLD_SIZE": "4",
        "MASTER_ADDR": "workerpool0-abc",
        "MASTER_PORT": "2222",
    }
    where = cluster.from_env(torch)
    assert (where.role, where.rank, where.world_size, where.name) == (
        "worker",
        2,
        4,
        "workerpool1-1",
    )
    assert where.bind_host == ""  # a host name: the primary would listen on every interface

    env = executor_envs([1, 2])["workerpool1-1"]
    cases = [
        (
            {**env, "RANK": "1"},
            "RANK=1 disagrees with CLUSTER_SPEC, which makes workerpool1-1 rank 2",
        ),
        ({**env, "WORLD_SIZE": "5"}, "WORLD_SIZE=5 disagrees with CLUSTER_SPEC"),
        ({"CLUSTER_SPEC": "{not json"}, "CLUSTER_SPEC must be JSON"),
        ({**env, "MASTER_PORT": "99999"}, "MASTER_PORT must be a port in 1..65535"),
        ({"RANK": "0", "WORLD_SIZE": "2"}, "missing: MASTER_ADDR, MASTER_PORT"),
        ({**torch, "RANK": "4"}, r"RANK must be in 0..WORLD_SIZE-1 \(3\), got 4"),
    ]
    for bad, message in cases:
        with pytest.raises(TrainerError, match=message):
            cluster.from_env(bad)


def test_the_trainer_refuses_a_parameter_server_and_bad_crash_flags(monkeypatch, capsys, data):
    env = executor_envs([1, 1, 1])["workerpool2-0"]
    monkeypatch.setenv("CLUSTER_SPEC", env["CLUSTER_SPEC"])
    assert task.main([]) == 1
    error = capsys.readouterr().err
    assert "workerpool2-0 is a parameter server" in error and "all-reduce" in error

    monkeypatch.delenv("CLUSTER_SPEC")
    training = f"--training-data={data['train']}"
    for flags, message in [
        (["--fail-rank=3", "--fail-at-round=5"], "--fail-rank must be a rank in 0..0"),
        (["--fail-rank=0"], "--fail-rank and --fail-at-round must be given together"),
        (["--fail-rank=0", "--fail-at-round=400"], r"--fail-at-round must be in 1..100"),
    ]:
        assert task.main([training, *flags]) == 1
        assert message in capsys.readouterr().err
