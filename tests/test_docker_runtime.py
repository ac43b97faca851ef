"""The docker runtime of the local twin: `docker run` command lines and supervision.

This machine has the docker client but no Docker engine, so no container runs here. What is
tested for real: the early error without an engine (the real client, and without a client),
and the exact `docker run` of every replica (primary and workers, GPUs or not, `gs://` mapped
onto the `/gcs` mount, the environment filtered), built by the code the executor runs. The
supervision (stop by container name, removal, exit codes, streamed logs) runs against a
stand-in `docker` executable (see `STAND_IN`): the one mock here, because no engine exists.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from vtp.cli.main import main
from vtp.errors import JobError, SpecError
from vtp.local import docker_runtime
from vtp.local._commands import pool_launch
from vtp.local._pools import parse_pools
from vtp.local.executor import (
    DockerUnavailable,
    Engine,
    JobState,
    LocalJob,
    LocalJobFailed,
    docker_runs,
    run_local_job,
    runtime_from_env,
    select_runtime,
)

# replicas run through a stand-in docker process: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow

IMAGE = "us-central1-docker.pkg.dev/p/r/vtp-trainer:0.1.0"
ENGINE = Engine(docker="/usr/local/bin/docker", version="test")
CONTRACT = {"CLUSTER_SPEC", "TF_CONFIG", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"}
AIP = {"AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR", "AIP_TENSORBOARD_LOG_DIR"}


@pytest.fixture(autouse=True)
def fresh_engine(monkeypatch):
    """Each test finds (or misses) the engine itself: no Engine remembered across tests."""
    monkeypatch.setattr(docker_runtime, "_engine", None)
    for var in ("VTP_RUNTIME", "VTP_DOCKER_ARGS", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.setenv(var, "")  # so that teardown restores what was there before
        monkeypatch.delenv(var)


def pool(*args: str, replicas: int = 1, env: dict | None = None, command=None, **machine):
    return {
        "machine_spec": {"machine_type": "n1-standard-4", **machine},
        "replica_count": replicas,
        "container_spec": {
            "image_uri": IMAGE,
            "command": ["python", "-m", "trainer.task"] if command is None else command,
            "args": list(args),
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        },
    }


def options(argv: list[str], flag: str) -> list[str]:
    return [value for f, value in itertools.pairwise(argv) if f == flag]


# selecting the runtime -----------------------------------------------------------------------


def test_docker_runtime_fails_early_without_an_engine(tmp_path):
    """The real docker client is installed, the engine is not: nothing starts."""
    job = LocalJob("no-engine", [pool()])
    with pytest.raises(DockerUnavailable) as info:
        run_local_job(job, work_dir=tmp_path / "w", gcs_root=tmp_path / "gcs", runtime="docker")
    message = str(info.value)
    assert message.startswith("the docker runtime needs a running Docker engine (")
    assert "`docker info` says:" in message or "`docker` is not on PATH" in message
    assert "install Docker Engine (https://docs.docker.com/engine/install/)" in message
    assert "--runtime process" in message
    assert isinstance(info.value, JobError)
    assert not (tmp_path / "w").exists() and not (tmp_path / "gcs").exists()


def test_docker_runtime_without_a_client(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DockerUnavailable, match="`docker` is not on PATH"):
        select_runtime("docker")
    assert os.environ.get("VTP_RUNTIME") is None


def test_vtp_run_with_the_docker_runtime_stops_before_any_step(tmp_path, capsys):
    home = tmp_path / "home"
    code = main(["run", "training", "--local", "--runtime", "docker", "--home", str(home)])
    err = capsys.readouterr().err
    assert code == 2
    assert "vtp: error: the docker runtime needs a running Docker engine" in err
    assert not (home / "runs").exists()


def test_runtime_selection(monkeypatch):
    assert runtime_from_env({}) == "process"
    assert runtime_from_env({"VTP_RUNTIME": "docker"}) == "docker"
    with pytest.raises(SpecError, match="VTP_RUNTIME must be one of process, docker, got 'k8s'"):
        runtime_from_env({"VTP_RUNTIME": "k8s"})
    assert select_runtime("process") == "process" and os.environ["VTP_RUNTIME"] == "process"
    with pytest.raises(SpecError, match="--runtime must be one of"):
        select_runtime("podman")


def test_entrypoint_images_need_no_mapping_under_docker(monkeypatch):
    """A pool without `command` runs its image's ENTRYPOINT: the process runtime needs
    $VTP_IMAGE_COMMANDS for it, the docker runtime does not."""
    spec = pool(command=[])
    spec["container_spec"]["image_uri"] = "us-docker.pkg.dev/p/r/their-trainer:1"
    (entry,) = parse_pools([spec])
    with pytest.raises(JobError, match="VTP_RUNTIME=docker"):
        pool_launch(entry, {})
    monkeypatch.setenv("VTP_RUNTIME", "docker")
    assert pool_launch(entry, {}).command == []


# the docker run command lines ----------------------------------------------------------------


def test_primary_and_workers(tmp_path):
    gcs = (tmp_path / "gcs").resolve()
    job = LocalJob(
        "train job/1",
        [
            pool("--data=gs://bucket/train.csv", "--fuse", "/gcs/bucket/x", env={"A": "gs://b/a"}),
            pool("--role=worker", replicas=2),
        ],
        base_output_directory="gs://bucket/run",
    )
    extra = ["--lr=0.1", "--out=gs://b/o"]
    runs = docker_runs(job, gcs_root=tmp_path / "gcs", engine=ENGINE, extra_args=extra)
    assert list(runs) == ["workerpool0-0", "workerpool1-0", "workerpool1-1"]
    names = [r.name for r in runs.values()]
    token = names[0].split("-")[-3]
    assert names == [f"vtp-train-job-1-{token}-{r}" for r in runs]

    primary = runs["workerpool0-0"].argv
    assert primary[:8] == [
        ENGINE.docker,
        "run",
        "--rm",
        "--init",
        "--name",
        names[0],
        "--network",
        "host",
    ]
    assert options(primary, "--label") == ["vtp.job=train job/1", "vtp.replica=workerpool0-0"]
    assert options(primary, "--user") == [f"{os.getuid()}:{os.getgid()}"]
    assert options(primary, "-v") == [f"{gcs}:/gcs"]
    assert "--gpus" not in primary
    image_at = primary.index(IMAGE)
    assert primary[image_at - 2 : image_at] == ["--entrypoint", "python"]
    assert primary[image_at + 1 :] == [
        "-m",
        "trainer.task",
        "--data=/gcs/bucket/train.csv",
        "--fuse",
        "/gcs/bucket/x",
        "--lr=0.1",
        "--out=/gcs/b/o",
    ]
    assert runs["workerpool1-1"].argv[-5:] == [
        *("-m", "trainer.task", "--role=worker"),
        *("--lr=0.1", "--out=/gcs/b/o"),
    ]

    env = runs["workerpool0-0"].environment()
    assert env["AIP_MODEL_DIR"] == "/gcs/bucket/run/model/"
    assert env["AIP_CHECKPOINT_DIR"] == "/gcs/bucket/run/checkpoints/"
    assert env["A"] == "/gcs/b/a"
    assert (gcs / "bucket" / "run" / "model").is_dir()  # made on the host, seen through /gcs
    spec = json.loads(env["CLUSTER_SPEC"])
    assert spec["task"] == {"type": "workerpool0", "index": 0}
    addresses = spec["cluster"]["workerpool0"] + spec["cluster"]["workerpool1"]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    for i, name in enumerate(runs):
        worker_env = runs[name].environment()
        assert worker_env["RANK"] == str(i) and worker_env["WORLD_SIZE"] == "3"
        assert worker_env["MASTER_ADDR"] == "127.0.0.1"
        assert worker_env["MASTER_PORT"] == addresses[0].split(":")[1]
    assert json.loads(runs["workerpool1-1"].environment()["TF_CONFIG"])["task"] == {
        "type": "worker",
        "index": 1,
    }


def test_only_contract_variables_and_pool_env_reach_the_container(tmp_path, monkeypatch):
    monkeypatch.setenv("HOST_ONLY_SECRET", "s3cr3t")
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1/docker.sock")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    job = LocalJob(
        "env",
        [pool(env={"TOKEN": "pool-value", "HOME": "/home/trainer"})],
        base_output_directory="gs://bucket/base",
    )
    extra = {"CLOUD_ML_HP_METRIC_FILE": str(tmp_path / "job" / "hypertune" / "output.metrics")}
    (run,) = docker_runs(
        job, gcs_root=tmp_path / "gcs", engine=ENGINE, trial_id="4", extra_env=extra
    ).values()
    env = run.environment()
    assert set(env) == {
        "CLUSTER_SPEC",
        "CLOUD_ML_TRIAL_ID",
        "CLOUD_ML_HP_METRIC_FILE",
        *AIP,
        "TOKEN",
        "HOME",
        "PYTHONUNBUFFERED",
    }
    assert env["AIP_MODEL_DIR"] == "/gcs/bucket/base/4/model/"
    assert env["TOKEN"] == "pool-value" and env["CLOUD_ML_TRIAL_ID"] == "4"
    # Values travel in the docker client's environment, not on its command line ...
    assert run.argv[run.argv.index("TOKEN") - 1 : run.argv.index("TOKEN") + 1] == ["-e", "TOKEN"]
    assert not any("pool-value" in part or "cluster" in part for part in run.argv)
    # ... except for names the client reads itself, which go as NAME=VALUE.
    assert "HOME=/home/trainer" in options(run.argv, "-e")
    assert run.client_env["HOME"] == os.environ["HOME"]
    assert run.client_env["DOCKER_HOST"] == "unix:///run/user/1/docker.sock"
    assert "HOST_ONLY_SECRET" not in run.client_env and "HOST_ONLY_SECRET" not in env
    # The hypertune file is a host path the job names: its directory is mounted as itself.
    metrics_dir = str(tmp_path / "job" / "hypertune")
    assert f"{metrics_dir}:{metrics_dir}" in options(run.argv, "-v")
    assert Path(metrics_dir).is_dir()


def test_base_output_directory_without_cloud_storage_is_mounted(tmp_path):
    base = tmp_path / "outputs"
    job = LocalJob("local-base", [pool()], base_output_directory=str(base))
    (run,) = docker_runs(job, gcs_root=tmp_path / "gcs", engine=ENGINE).values()
    assert f"{base}:{base}" in options(run.argv, "-v")
    assert run.environment()["AIP_MODEL_DIR"] == f"{base}/model/"
    assert (base / "model").is_dir()


def test_gpus(tmp_path, monkeypatch):
    gpu = pool(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=2)
    job = LocalJob("gpu", [gpu, pool()])

    def gpus_flag(**kwargs):
        runs = docker_runs(job, gcs_root=tmp_path / "gcs", engine=ENGINE, **kwargs)
        assert "--gpus" not in runs["workerpool1-0"].argv  # a CPU pool never gets GPUs
        env = runs["workerpool0-0"].environment()
        assert "CUDA_VISIBLE_DEVICES" not in env  # --gpus numbers them from 0 inside
        return options(runs["workerpool0-0"].argv, "--gpus")

    assert gpus_flag(gpus=lambda: 0) == []
    assert gpus_flag(gpus=lambda: 2) == ["all"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    assert gpus_flag(gpus=lambda: 4) == ['"device=1,3"']
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpus_flag(gpus=lambda: 4) == []

    (accel, _) = parse_pools(job.worker_pool_specs)
    assert docker_runtime.gpu_notice(accel, None, {}) == (
        "workerpool0: NVIDIA_TESLA_T4 x 2 requested; running on CPU locally "
        "(nvidia-smi lists no GPU here)"
    )
    assert "hides every GPU" in docker_runtime.gpu_notice(
        accel, None, {"CUDA_VISIBLE_DEVICES": "-1"}
    )
    assert docker_runtime.gpu_notice(accel, "all").endswith("containers get `--gpus all`")


def test_entrypoint_image_and_python_packages(tmp_path):
    local_pkg = tmp_path / "dist" / "trainer-0.1.tar.gz"
    package = {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "python_package_spec": {
            "executor_image_uri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
            "package_uris": ["gs://b/pkgs/trainer-0.1.tar.gz", str(local_pkg)],
            "python_module": "trainer.task",
            "args": ["--epochs=2"],
        },
    }
    job = LocalJob("kinds", [pool("--x=gs://b/x", command=[]), package, package])
    runs = docker_runs(job, gcs_root=tmp_path / "gcs", engine=ENGINE)
    entry = runs["workerpool0-0"].argv
    assert "--entrypoint" not in entry and entry[-2:] == [IMAGE, "--x=/gcs/b/x"]

    argv = runs["workerpool1-0"].argv
    at = argv.index("sh")
    assert argv[at - 1] == "--entrypoint"
    assert argv[at + 1 :] == [
        "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
        "-c",
        argv[at + 3],
        "vtp-workerpool1",
        "--epochs=2",
    ]
    script = argv[at + 3]
    assert "pip install" in script and "--target /tmp/vtp-packages" in script
    assert f"/gcs/b/pkgs/trainer-0.1.tar.gz {local_pkg}" in script
    assert script.endswith('exec python -m trainer.task "$@"')
    assert f"{local_pkg}:{local_pkg}:ro" in options(argv, "-v")

    no_packages = {**package, "python_package_spec": {**package["python_package_spec"]}}
    no_packages["python_package_spec"]["package_uris"] = []
    (run,) = docker_runs(
        LocalJob("m", [no_packages]), gcs_root=tmp_path / "gcs", engine=ENGINE
    ).values()
    assert run.argv[-6:] == [
        "--entrypoint",
        "python",
        "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
        "-m",
        "trainer.task",
        "--epochs=2",
    ]


def test_engine_kind_and_extra_docker_options(tmp_path, monkeypatch):
    job = LocalJob("opts", [pool()])
    rootless = Engine(docker="docker", version="test", rootless=True)
    (run,) = docker_runs(job, gcs_root=tmp_path / "gcs", engine=rootless).values()
    assert "--user" not in run.argv  # a rootless engine maps container root to us already
    monkeypatch.setenv("VTP_DOCKER_ARGS", "--shm-size 2g --ipc=host")
    (run,) = docker_runs(job, gcs_root=tmp_path / "gcs", engine=rootless).values()
    at = run.argv.index("--shm-size")
    assert run.argv[at : at + 3] == ["--shm-size", "2g", "--ipc=host"]
    assert at < run.argv.index(IMAGE)
    monkeypatch.setenv("VTP_DOCKER_ARGS", "--label 'open")
    with pytest.raises(SpecError, match="VTP_DOCKER_ARGS must be docker run options"):
        docker_runs(job, gcs_root=tmp_path / "gcs", engine=rootless)


def test_docker_exit_codes_are_explained():
    assert "docker could not run the container" in docker_runtime.describe_docker_exit(125)
    assert "not found in the image" in docker_runtime.describe_docker_exit(127)
    assert docker_runtime.describe_docker_exit(137) == " (the container was killed by SIGKILL)"
    assert docker_runtime.describe_docker_exit(3) == ""


# supervision, against a stand-in docker CLI ----------------------------------------------------

#: A stand-in for the docker CLI (there is no engine here): `info` answers; `run` starts the
#: command as a local process with only the `-e` variables, `/gcs` mapped to the `-v` source,
#: and records the container's pid by name; `kill` and `rm --force` signal it by name. Every
#: call is appended to state/calls.jsonl beside its bin/ directory.
STAND_IN = r"""
import json, os, signal, subprocess, sys
state = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "state")
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as f:
    f.write(json.dumps(args) + "\n")
def pid_of(name):
    try:
        return int(open(os.path.join(state, name + ".pid")).read())
    except (OSError, ValueError):
        return None
if args[0] == "info":
    print(json.dumps({"ServerVersion": "stand-in", "SecurityOptions": ["name=rootless"]}))
elif args[0] == "kill":
    pid = pid_of(args[-1])
    sig = signal.Signals[args[args.index("--signal") + 1]] if "--signal" in args else 9
    if pid is None:
        sys.exit(1)
    os.kill(pid, sig)
elif args[0] == "rm":
    pid = pid_of(args[-1])
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
elif args[0] == "run":
    env, mounts, entrypoint, name, i = {}, {}, None, None, 1
    valued = {"--name", "--network", "--label", "--user", "-v", "--gpus", "-e", "--entrypoint"}
    while args[i].startswith("-"):
        flag = args[i]
        if flag in valued:
            value = args[i + 1]
            i += 2
            if flag == "-e":
                key, sep, literal = value.partition("=")
                env[key] = literal if sep else os.environ[key]
            elif flag == "-v":
                host, target = value.split(":")[:2]
                mounts[target] = host
            elif flag == "--entrypoint":
                entrypoint = value
            elif flag == "--name":
                name = value
        else:
            i += 1
    def host(value):
        for target, source in mounts.items():
            value = value.replace(target + "/", source + "/")
        return value
    command = [entrypoint, *args[i + 1:]]
    if command[0] == "python":
        command[0] = sys.executable
    child = subprocess.Popen([host(c) for c in command], env={k: host(v) for k, v in env.items()})
    with open(os.path.join(state, name + ".pid"), "w") as f:
        f.write(str(child.pid))
    code = child.wait()
    os.remove(os.path.join(state, name + ".pid"))
    sys.exit(128 - code if code < 0 else code)
"""

DUMP = """
import json, os, sys, time
task = json.loads(os.environ["CLUSTER_SPEC"])["task"]
out = os.path.join(os.environ["AIP_MODEL_DIR"], f"{task['type']}-{task['index']}.json")
with open(out, "w") as f:
    json.dump({"env": dict(os.environ), "argv": sys.argv[1:]}, f)
print("hello from", task["type"], task["index"], flush=True)
mode = sys.argv[1]
if mode == "sleep":
    time.sleep(60)
elif mode == "fail":
    sys.exit(3)
"""


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """The stand-in docker CLI first on PATH; yields its state directory."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    script = bin_dir / "docker"
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(STAND_IN))
    script.chmod(0o755)
    (tmp_path / "gcs" / "code").mkdir(parents=True)
    (tmp_path / "gcs" / "code" / "dump.py").write_text(textwrap.dedent(DUMP))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return state


def calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


def dump_pool(mode: str, replicas: int = 1, **machine) -> dict:
    return pool(mode, replicas=replicas, command=["python", "gs://code/dump.py"], **machine)


def run_job(tmp_path, pools, lines, **kwargs):
    return run_local_job(
        LocalJob("stand-in", pools, base_output_directory="gs://out/run", **kwargs),
        work_dir=tmp_path / "work",
        gcs_root=tmp_path / "gcs",
        log=lines.append,
        runtime="docker",
        stop_grace_s=2,
    )


def test_replicas_run_as_containers_and_are_removed(tmp_path, stand_in, monkeypatch):
    monkeypatch.setenv("HOST_ONLY_SECRET", "s3cr3t")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    lines: list[str] = []
    gpu = dump_pool("ok", accelerator_type="NVIDIA_L4", accelerator_count=1)
    result = run_job(tmp_path, [gpu, dump_pool("ok")], lines)
    assert result.state is JobState.SUCCEEDED
    assert [r.exit_code for r in result.replicas] == [0, 0]
    model = tmp_path / "gcs" / "out" / "run" / "model"
    seen = json.loads((model / "workerpool0-0.json").read_text())
    seen["env"].pop("LC_CTYPE", None)  # set by Python itself at start-up in the C locale
    assert set(seen["env"]) == {*CONTRACT, *AIP, "PYTHONUNBUFFERED"}
    assert seen["env"]["AIP_MODEL_DIR"] == f"{model.resolve()}/"  # /gcs/out/run/model/ inside
    assert [line for line in lines if "[workerpool1-0] hello from" in line]
    notes = [line for line in lines if "NVIDIA_L4" in line]
    assert notes == [
        '[local-job] workerpool0: NVIDIA_L4 x 1 requested; containers get `--gpus "device=0"`'
    ]
    runs = [c for c in calls(stand_in) if c[0] == "run"]
    assert options(runs[0], "--gpus") == ['"device=0"'] and "--gpus" not in runs[1]
    names = [options(c, "--name")[0] for c in runs]
    removed = [c[-1] for c in calls(stand_in) if c[:2] == ["rm", "--force"]]
    assert sorted(removed) == sorted(names)
    assert all(r.command[1] == "run" for r in result.replicas)


def test_a_failing_replica_stops_the_other_containers(tmp_path, stand_in):
    lines: list[str] = []
    with pytest.raises(LocalJobFailed) as info:
        run_job(tmp_path, [dump_pool("sleep"), dump_pool("fail")], lines)
    message = str(info.value)
    assert "replica workerpool1-0 failed with exit code 3" in message
    primary = info.value.result.replica("workerpool0-0")
    name = options(primary.command, "--name")[0]
    recorded = calls(stand_in)
    assert ["kill", "--signal", "SIGTERM", name] in recorded
    assert ["rm", "--force", name] in recorded
    assert not (stand_in / f"{name}.pid").exists()  # the stand-in's container process ended


def test_timeout_and_cancel_stop_containers_by_name(tmp_path, stand_in):
    lines: list[str] = []
    with pytest.raises(LocalJobFailed, match="exceeded the timeout of 1s"):
        run_job(tmp_path, [dump_pool("sleep")], lines, timeout="1s")
    (name,) = [options(c, "--name")[0] for c in calls(stand_in) if c[0] == "run"]
    assert ["kill", "--signal", "SIGTERM", name] in calls(stand_in)
    assert not list(stand_in.glob("*.pid"))

    (stand_in / "calls.jsonl").unlink()
    result = run_local_job(
        LocalJob("cancel", [dump_pool("sleep")], base_output_directory="gs://out/c"),
        work_dir=tmp_path / "work2",
        gcs_root=tmp_path / "gcs",
        log=lines.append,
        runtime="docker",
        should_stop=lambda: bool(list(stand_in.glob("*.pid"))),  # once the container runs
    )
    assert result.state is JobState.CANCELLED
    (name,) = [options(c, "--name")[0] for c in calls(stand_in) if c[0] == "run"]
    assert [c[-1] for c in calls(stand_in) if c[0] == "rm"] == [name]
    assert not list(stand_in.glob("*.pid"))
