"""The distributed example trainer, run as real replica processes by the local job executor.

The replicas really talk: a primary and two workers rendezvous over loopback TCP, all-reduce
their gradients every step, and must end with bit-identical weights equal (within float
rounding) to what one process training on all the rows gets. Also: the cluster variables each
replica sees, a worker killed mid-training, peers that stall or disagree, and a Reduction
Server pool that is not started.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import psutil
import pytest
from support.waiting import wait_until

from trainer import TrainerError
from trainer.distributed import cluster, task
from trainer.distributed.collective import (
    Collective,
    CollectiveError,
    CollectiveTimeout,
    PeerLost,
)
from vtp.components.evaluation.metrics import evaluate
from vtp.defaults import DISTRIBUTED_TRAINER_IMAGE
from vtp.local._pools import parse_pools
from vtp.local.executor import JobState, LocalJob, LocalJobFailed, run_local_job
from vtp.local.replica_env import OutputDirs, free_ports, plan_replicas, replica_env

# replicas are real processes that all-reduce over sockets: `pytest -m 'not slow'` leaves them out.
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


def checksum(log: str) -> str:
    (found,) = re.findall(r"final weights sha256 ([0-9a-f]{64})", log)
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

    # The gradients of all three shards were summed at every step...
    trainers = names[:3]
    steps = re.findall(
        r"step (\d+)/300: loss \S+, gradients all-reduced from (\d) ranks \((\d+)",
        logs["workerpool0-0"],
    )
    assert len(steps) == 7 and all(
        ranks == "3" and int(rows) == TRAIN_ROWS for _, ranks, rows in steps
    )
    # ... so every rank ends with the same weights, bit for bit.
    sums = {name: checksum(logs[name]) for name in trainers}
    assert len(set(sums.values())) == 1
    model_dir = Path(result.model_dir)
    metadata = json.loads((model_dir / "model_metadata.json").read_text())
    assert metadata["distributed"]["weights_sha256"] == sums
    assert metadata["distributed"]["rows_per_replica"] == [157, 157, 156]
    assert metadata["distributed"]["steps_all_reduced_from_every_rank"] == 300
    assert metadata["training_rows"] == TRAIN_ROWS

    # Only the primary wrote the model.
    assert sorted(p.name for p in model_dir.iterdir()) == ["model.joblib", "model_metadata.json"]
    assert "wrote model.joblib" in logs["workerpool0-0"]
    assert all("wrote model.joblib" not in logs[name] for name in names[1:])

    # The group's model is the model of one process on all the rows; one shard alone differs.
    group = joblib.load(model_dir / "model.joblib")
    shard = tmp_path / "shard0.parquet"
    pd.read_parquet(data["train"]).iloc[0::3].to_parquet(shard)
    train_alone(data, {data["train"]: tmp_path / "alone", shard: tmp_path / "shard0"})
    alone = joblib.load(tmp_path / "alone" / "model.joblib")
    scale = np.abs(alone.coef_).max()
    assert np.abs(group.coef_ - alone.coef_).max() < 1e-9 * scale
    assert group.intercept_ == pytest.approx(alone.intercept_, rel=1e-9)
    one_shard = joblib.load(tmp_path / "shard0" / "model.joblib")
    assert np.abs(one_shard.coef_ - group.coef_).max() > 0.05 * scale

    # A scikit-learn model the evaluation step loads, and a metric hypertune can read.
    scores = evaluate(str(model_dir), str(data["validation"]))
    assert scores.scalars["auc"] > 0.95
    reports = [
        json.loads(x) for x in (tmp_path / "hypertune" / "output.metrics").read_text().splitlines()
    ]
    assert float(reports[-1]["auc"]) == pytest.approx(metadata["validation_metrics"]["auc"])
    assert [r["global_step"] for r in reports] == ["50", "100", "150", "200", "250", "300"]

    # The evaluator waited for the primary's model and scored it.
    (line,) = [
        x for x in logs["workerpool3-0"].splitlines() if "metrics of the primary's model" in x
    ]
    assert json.loads(line.split("model: ", 1)[1]) == metadata["validation_metrics"]


@pytest.mark.slow
@pytest.mark.xdist_group("distributed-trainer")
def test_a_worker_killed_mid_training_fails_the_job_naming_it(tmp_path, data):
    lines: list[str] = []
    crash = ("--fail-rank=2", "--fail-at-step=5")
    pools = [trainer_pool(data, 1, *crash), trainer_pool(data, 2, *crash)]
    with pytest.raises(LocalJobFailed) as caught:
        run(tmp_path, pools, lines)
    assert caught.value.replica == "workerpool1-1"
    message = str(caught.value)
    assert "replica workerpool1-1 was killed by signal SIGKILL" in message
    assert "rank 2: simulated crash at step 5" in message
    assert caught.value.result.state is JobState.FAILED
    wait_until(lambda: not replicas_under(tmp_path / "gcs"))  # the job stopped them all


@pytest.mark.slow
@pytest.mark.xdist_group("distributed-trainer")
def test_survivors_exit_on_their_own_when_a_peer_dies(tmp_path, data):
    """Without a supervisor to stop them, the primary and worker 1 notice that rank 2 died
    (its connection closes) and exit at once, long before any timeout: nobody hangs. The
    group is described with RANK / WORLD_SIZE / MASTER_* only (no CLUSTER_SPEC)."""
    (port,) = free_ports(1)
    base = {k: v for k, v in os.environ.items() if k not in CLUSTER_VARS}
    base |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "3"}
    base["CLOUD_ML_HP_METRIC_FILE"] = str(tmp_path / "hypertune.metrics")
    argv = [
        sys.executable,
        "-m",
        "trainer.distributed.task",
        f"--training-data={data['train']}",
        f"--validation-data={data['validation']}",
        f"--model-dir={tmp_path / 'model'}",
        "--fail-rank=2",
        "--fail-at-step=5",
        "--abort-grace=0",
    ]
    procs = [
        subprocess.Popen(
            argv,
            cwd=REPO / "trainers",
            env={**base, "RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(3)
    ]
    try:
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            p.kill()
    # The collective's timeout is 300 s; the survivors say why they stopped: the peer's closed
    # connection, not a timeout.
    assert [p.returncode for p in procs] == [1, 1, -9]
    assert "rank 2 (workerpool1-1) closed its connection" in outputs[0][1]
    assert "the primary aborted: " in outputs[1][1]
    assert "rank 2 (workerpool1-1) closed its connection" in outputs[1][1]
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("distributed-trainer")
def test_reduction_server_pool_is_skipped_with_one_log_line(tmp_path, data):
    lines: list[str] = []
    reducers = {
        "machine_spec": {"machine_type": "n1-highcpu-16"},
        "replica_count": 2,
        "container_spec": {"image_uri": REDUCTION_SERVER},
    }
    pools = [trainer_pool(data, 1, "--steps=20"), trainer_pool(data, 2, "--steps=20"), reducers]
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
        (["--fail-rank=3", "--fail-at-step=5"], "--fail-rank must be a rank in 0..0"),
        (["--fail-rank=0"], "--fail-rank and --fail-at-step must be given together"),
        (["--fail-rank=0", "--fail-at-step=400"], r"--fail-at-step must be in 1..300"),
        (["--steps=0"], "--steps must be >= 1"),
    ]:
        assert task.main([training, *flags]) == 1
        assert message in capsys.readouterr().err


# -- the collective itself, ranks as threads of this process ---------------------------------


def group(world: int, body, *, timeout_s: float = 10.0, rendezvous_s: float = 10.0) -> list:
    """Runs `body(comm)` on every rank of a new group; returns each rank's result or error."""
    (port,) = free_ports(1)
    results: list = [None] * world

    def rank_main(rank: int) -> None:
        try:
            comm = Collective.connect(
                rank,
                world,
                "127.0.0.1",
                port,
                timeout_s=timeout_s,
                rendezvous_timeout_s=rendezvous_s,
            )
            with comm:
                results[rank] = body(comm)
        except Exception as err:  # collected for the test to inspect
            results[rank] = err

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(world)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a rank hangs"
    return results


def test_allreduce_broadcast_gather_and_barrier():
    def body(comm: Collective):
        mine = np.arange(4.0) * (comm.rank + 1) + 0.1
        total = comm.allreduce(mine)
        mean = comm.allreduce(mine, op="mean")
        from_one = comm.broadcast(np.full(2, 7.0) if comm.rank == 1 else None, root=1)
        gathered = comm.gather(np.array([comm.rank * 10]))
        comm.barrier()
        return total, mean, from_one, gathered, comm.last_contributors

    results = group(3, body)
    expected = np.arange(4.0) * 6 + 0.3
    for rank, (total, mean, from_one, gathered, contributors) in enumerate(results):
        assert total.tobytes() == results[0][0].tobytes()  # the same bytes on every rank
        np.testing.assert_allclose(total, expected)
        np.testing.assert_allclose(mean, expected / 3)
        assert from_one.tolist() == [7.0, 7.0]
        assert contributors == [0, 1, 2]
        if rank == 0:
            assert [g.tolist() for g in gathered] == [[0], [10], [20]]
        else:
            assert gathered is None


def test_ranks_calling_different_collectives_all_fail_clearly():
    def body(comm: Collective):
        if comm.rank == 1:
            return comm.broadcast(np.zeros(3))
        return comm.allreduce(np.zeros(3))

    results = group(3, body)
    assert all(isinstance(r, CollectiveError) for r in results), results
    assert (
        "rank 1 (workerpool1-0) called broadcast-0 (collective #1) while the primary called "
        "allreduce-sum (collective #1)" in str(results[0])
    )
    assert str(results[2]).startswith("the primary aborted: rank 1 (workerpool1-0) called")

    shapes = group(2, lambda comm: comm.allreduce(np.zeros(2 + comm.rank)))
    assert "rank 1 (workerpool1-0) sent float64[3], the primary float64[2]" in str(shapes[0])
    assert isinstance(shapes[1], CollectiveError)


def test_a_stalled_rank_times_out_naming_it():
    primary_gave_up = threading.Event()

    def body(comm: Collective):
        if comm.rank == 2:  # never calls the collective in time
            primary_gave_up.wait(20)
            return None
        try:
            return comm.allreduce(np.ones(1))
        finally:
            if comm.rank == 0:
                primary_gave_up.set()

    results = group(3, body, timeout_s=1.0)
    assert isinstance(results[0], CollectiveTimeout)
    assert "no contribution from rank 2 (workerpool1-1) in time" in str(results[0])
    assert isinstance(results[1], CollectiveError)  # told by the primary, not left waiting
    assert "rank 2 (workerpool1-1)" in str(results[1])


def test_rendezvous_timeouts_name_who_is_missing():
    (port,) = free_ports(1)
    joined: list = []

    def join() -> None:
        try:
            Collective.connect(1, 3, "127.0.0.1", port, rendezvous_timeout_s=5.0)
        except CollectiveError as err:
            joined.append(err)

    joiner = threading.Thread(target=join)
    joiner.start()
    try:
        with pytest.raises(CollectiveTimeout, match=r"rank 2 \(workerpool1-1\) did not join"):
            Collective.connect(0, 3, "127.0.0.1", port, rendezvous_timeout_s=1.0)
    finally:
        joiner.join(timeout=10)
    # rank 1 had joined: it learns at once that the primary gave up
    assert isinstance(joined[0], PeerLost) and "the primary (rank 0" in str(joined[0])
    with pytest.raises(CollectiveTimeout, match=f"cannot reach the primary at 127.0.0.1:{port}"):
        Collective.connect(1, 2, "127.0.0.1", port, rendezvous_timeout_s=0.5)


def test_a_peer_that_closes_is_reported_at_once():
    def body(comm: Collective):
        if comm.rank == 1:
            comm.close()  # as if the process had died
            return None
        try:
            comm.allreduce(np.ones(1))
        except PeerLost as err:  # not CollectiveTimeout: the closed socket said so
            return str(err)
        return None

    message = group(2, body, timeout_s=30.0)[0]
    assert "rank 1 (workerpool1-0) closed its connection" in message


def test_a_stray_connection_with_a_garbled_header_does_not_stop_the_rendezvous():
    import socket
    import struct

    (port,) = free_ports(1)
    logs: list[str] = []
    results: dict = {}

    def primary() -> None:
        try:
            results[0] = Collective.connect(
                0, 2, "127.0.0.1", port, rendezvous_timeout_s=10.0, log=logs.append
            )
        except Exception as err:  # collected for the test to inspect
            results[0] = err

    thread = threading.Thread(target=primary)
    thread.start()

    def connect():
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            return None  # the primary is not listening yet

    with wait_until(connect) as stray:
        garbage = b"\xff\xfe{not json"
        stray.sendall(struct.pack("!4sIQ", b"VTPC", len(garbage), 0) + garbage)
        worker = Collective.connect(1, 2, "127.0.0.1", port, rendezvous_timeout_s=10.0)
    thread.join(timeout=20)
    assert isinstance(results[0], Collective), results[0]
    with results[0] as lead, worker:
        summed: list = []
        helper = threading.Thread(target=lambda: summed.append(worker.allreduce(np.ones(1))))
        helper.start()
        assert lead.allreduce(np.ones(1)).tolist() == [2.0]
        helper.join(timeout=10)
        assert summed[0].tolist() == [2.0]
    assert any("ignoring a connection" in line and "JSON object header" in line for line in logs)
