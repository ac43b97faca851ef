"""The local custom-job executor, with tiny real Python trainers written into tmp_path."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import psutil
import pytest
from support.waiting import wait_until

from vtp.errors import JobError, SpecError
from vtp.local._commands import ImageCommand, find_image_command
from vtp.local._pools import parse_pools, parse_timeout
from vtp.local.executor import (
    JobState,
    LocalJob,
    LocalJobFailed,
    image_commands_from_env,
    run_local_job,
)

# replicas are real processes (and process groups): `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
REDUCTION_SERVER = "us-docker.pkg.dev/vertex-ai-restricted/training/reductionserver:latest"

# Dumps its environment and argv to $DUMP_DIR/<task type>-<index>.json.
DUMP = """
import json, os, sys
task = json.loads(os.environ["CLUSTER_SPEC"])["task"]
path = os.path.join(os.environ["DUMP_DIR"], f"{task['type']}-{task['index']}.json")
with open(path, "w") as f:
    json.dump({"env": dict(os.environ), "argv": sys.argv[1:], "main": __name__,
               "cwd": os.getcwd()}, f)
print("hello from", task["type"], task["index"])
"""

# Dumps like DUMP, then ranks 1.. connect to MASTER_ADDR:MASTER_PORT and rank 0 accepts them.
RENDEZVOUS = (
    DUMP
    + """
import socket, time
rank, world = os.environ.get("RANK"), int(os.environ.get("WORLD_SIZE", "1"))
addr = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
if rank == "0":
    server = socket.create_server(addr)
    server.settimeout(20)
    ranks = []
    for _ in range(world - 1):
        conn, _ = server.accept()
        with conn, conn.makefile() as stream:
            ranks.append(int(stream.read()))
    with open(os.path.join(os.environ["DUMP_DIR"], "rendezvous.json"), "w") as f:
        json.dump(sorted(ranks), f)
elif rank is not None:
    deadline = time.time() + 20
    while True:
        try:
            conn = socket.create_connection(addr, timeout=2)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    with conn:
        conn.sendall(rank.encode())
"""
)

# argv: MODE MARKER [FILE]. Every process it starts carries MARKER on its command line.
BEHAVE = """
import os, signal, subprocess, sys, time

mode, marker = sys.argv[1], sys.argv[2]
def grandchild():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    with open(sys.argv[3] + ".tmp", "w") as f:
        f.write(str(child.pid))
    os.rename(sys.argv[3] + ".tmp", sys.argv[3])
if mode == "sleep":
    time.sleep(60)
elif mode == "fail":
    for i in range(60):
        print(f"line {i}")
    sys.exit(3)
elif mode == "sigkill":
    print("about to die", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
elif mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
elif mode == "grandchild-sleep":
    grandchild()
    time.sleep(60)
elif mode == "grandchild-exit":
    grandchild()
elif mode == "late":  # argv[4] is written by a replica in mode "ok"
    while not os.path.exists(sys.argv[4]):
        time.sleep(0.05)
    open(sys.argv[3], "w").close()
elif mode == "ok":
    if len(sys.argv) > 3:
        open(sys.argv[3], "w").close()
"""


@pytest.fixture
def scripts(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, body in {"dump": DUMP, "rendezvous": RENDEZVOUS, "behave": BEHAVE}.items():
        out[name] = tmp_path / f"{name}.py"
        out[name].write_text(textwrap.dedent(body))
    (tmp_path / "dumps").mkdir()
    return out


def pool(script: Path, *args: str, replicas: int = 1, env: dict | None = None, **machine) -> dict:
    return {
        "machine_spec": {"machine_type": "n1-standard-4", **machine},
        "replica_count": replicas,
        "container_spec": {
            "image_uri": "us-docker.pkg.dev/p/r/trainer:1",
            "command": ["python", str(script)],
            "args": list(args),
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        },
    }


def run(tmp_path: Path, pools: list[dict], lines: list[str] | None = None, **kwargs):
    job_fields = {k: kwargs.pop(k) for k in ("base_output_directory", "timeout") if k in kwargs}
    job = LocalJob("test-job", pools, **job_fields)
    kwargs.setdefault("image_commands", {})
    log = lines.append if lines is not None else (lambda _: None)
    return run_local_job(
        job, work_dir=tmp_path / "work", gcs_root=tmp_path / "gcs", log=log, **kwargs
    )


def dumped(tmp_path: Path, name: str) -> dict:
    return json.loads((tmp_path / "dumps" / f"{name}.json").read_text())


def alive(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and marker in (proc.info["cmdline"] or []):
            found.append(proc)
    return found


def assert_none_alive(marker: str) -> None:
    """Every process carrying `marker` ends (the stopped job's group is killed, and they are
    reaped); a leak fails the test at its timeout."""
    wait_until(lambda: not alive(marker))


def wait_for(path: Path) -> None:
    wait_until(path.exists)


def test_single_replica_contract(tmp_path, scripts):
    gcs = (tmp_path / "gcs").resolve()
    camel = {
        "machineSpec": {"machineType": "n1-standard-4"},
        "replicaCount": 1.0,
        "containerSpec": {
            "imageUri": "us-docker.pkg.dev/p/r/trainer:1",
            "command": ["python3", str(scripts["dump"])],
            "args": ["--data=gs://bucket/data/train.csv", "--fuse", "/gcs/bucket/x.csv"],
            "env": [
                {"name": "DUMP_DIR", "value": str(tmp_path / "dumps")},
                {"name": "DATA", "value": "gs://bucket/d/"},
                {"name": "FUSE", "value": "/gcs/bucket/f"},
            ],
        },
    }
    lines: list[str] = []
    result = run(
        tmp_path,
        [camel],
        lines,
        base_output_directory="gs://bucket/run1",
        trial_id="3",
        extra_args=["--lr=0.1"],
        extra_env={"EXTRA": "gs://bucket/e"},
    )
    assert result.state is JobState.SUCCEEDED
    out = dumped(tmp_path, "workerpool0-0")
    env = out["env"]
    for var, sub in [
        ("AIP_MODEL_DIR", "model"),
        ("AIP_CHECKPOINT_DIR", "checkpoints"),
        ("AIP_TENSORBOARD_LOG_DIR", "logs"),
    ]:
        assert env[var] == f"{gcs}/bucket/run1/3/{sub}/"
        assert Path(env[var]).is_dir()
        assert result.output_uris[var] == f"gs://bucket/run1/3/{sub}/"
    assert result.model_dir == env["AIP_MODEL_DIR"]
    assert env["CLOUD_ML_TRIAL_ID"] == "3"
    assert env["VTP_GCS_ROOT"] == str(gcs)
    assert "TF_CONFIG" not in env and "MASTER_PORT" not in env
    spec = json.loads(env["CLUSTER_SPEC"])
    assert spec["environment"] == "cloud"
    assert spec["task"] == {"type": "workerpool0", "index": 0, "trial": "3"}
    assert list(spec["cluster"]) == ["workerpool0"]
    assert spec["cluster"]["workerpool0"][0].startswith("127.0.0.1:")
    job_pool = spec["job"]["worker_pool_specs"][0]
    assert job_pool["replica_count"] == 1
    assert job_pool["container_spec"]["image_uri"] == "us-docker.pkg.dev/p/r/trainer:1"
    assert spec["job"]["base_output_directory"] == {"output_uri_prefix": "gs://bucket/run1"}
    assert out["argv"] == [
        f"--data={gcs}/bucket/data/train.csv",
        "--fuse",
        f"{gcs}/bucket/x.csv",
        "--lr=0.1",
    ]
    assert env["DATA"] == f"{gcs}/bucket/d/"
    assert env["FUSE"] == f"{gcs}/bucket/f"
    assert env["EXTRA"] == f"{gcs}/bucket/e"
    (replica,) = result.replicas
    assert replica.name == "workerpool0-0" and replica.exit_code == 0
    assert replica.command[0] == sys.executable
    assert replica.log_path == (tmp_path / "work" / "logs" / "workerpool0-0.log").resolve()
    assert replica.log_path.read_text() == "hello from workerpool0 0\n"
    assert replica.tail == ["hello from workerpool0 0"]
    assert "[workerpool0-0] hello from workerpool0 0" in lines


def test_local_base_without_trial_and_no_base(tmp_path, scripts, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"DUMP_DIR": str(tmp_path / "dumps")}
    result = run(tmp_path, [pool(scripts["dump"], env=env)], base_output_directory="out")
    got = dumped(tmp_path, "workerpool0-0")["env"]
    assert got["AIP_MODEL_DIR"] == f"{Path('out').resolve()}/model/"
    assert result.output_uris["AIP_MODEL_DIR"] == "out/model/"
    assert "CLOUD_ML_TRIAL_ID" not in got
    assert "trial" not in json.loads(got["CLUSTER_SPEC"])["task"]

    run(tmp_path, [pool(scripts["dump"], env=env)], base_output_directory=str(tmp_path / "b"))
    got = dumped(tmp_path, "workerpool0-0")["env"]
    assert got["AIP_CHECKPOINT_DIR"] == f"{tmp_path / 'b'}/checkpoints/"

    result = run(tmp_path, [pool(scripts["dump"], env=env)])
    got = dumped(tmp_path, "workerpool0-0")["env"]
    assert not [k for k in got if k.startswith("AIP_")] and result.model_dir is None


def test_multi_replica_env_and_rendezvous(tmp_path, scripts):
    env = {"DUMP_DIR": str(tmp_path / "dumps")}
    script = scripts["rendezvous"]
    pools = [
        pool(script, env=env),
        pool(script, env=env, replicas=2.0),
        pool(script, env=env),
        pool(script, env=env),
    ]
    result = run(tmp_path, pools)
    assert [r.name for r in result.replicas] == [
        "workerpool0-0",
        "workerpool1-0",
        "workerpool1-1",
        "workerpool2-0",
        "workerpool3-0",
    ]
    envs = {r.name: dumped(tmp_path, r.name)["env"] for r in result.replicas}
    spec = json.loads(envs["workerpool0-0"]["CLUSTER_SPEC"])
    addresses = [a for pool_addresses in spec["cluster"].values() for a in pool_addresses]
    assert len(addresses) == 5 and len(set(addresses)) == 5
    assert {a.split(":")[0] for a in addresses} == {"127.0.0.1"}
    assert list(spec["cluster"]) == ["workerpool0", "workerpool1", "workerpool2", "workerpool3"]
    primary_port = spec["cluster"]["workerpool0"][0].split(":")[1]

    roles = {
        "workerpool0-0": ("chief", 0, "0"),
        "workerpool1-0": ("worker", 0, "1"),
        "workerpool1-1": ("worker", 1, "2"),
        "workerpool2-0": ("ps", 0, None),
        "workerpool3-0": ("evaluator", 0, None),
    }
    for name, (role, index, rank) in roles.items():
        env_of = envs[name]
        tf = json.loads(env_of["TF_CONFIG"])
        assert tf["task"] == {"type": role, "index": index}
        assert tf["environment"] == "cloud"
        assert tf["cluster"] == {
            "chief": spec["cluster"]["workerpool0"],
            "worker": spec["cluster"]["workerpool1"],
            "ps": spec["cluster"]["workerpool2"],
        }
        task = json.loads(env_of["CLUSTER_SPEC"])["task"]
        assert task == {"type": name.split("-")[0], "index": index}
        assert env_of["MASTER_ADDR"] == "127.0.0.1"
        assert env_of["MASTER_PORT"] == primary_port
        assert env_of["WORLD_SIZE"] == "3"
        assert env_of.get("RANK") == rank
    assert json.loads((tmp_path / "dumps" / "rendezvous.json").read_text()) == [1, 2]


def test_worker_failure_stops_the_others(tmp_path, scripts):
    marker = f"m-{uuid.uuid4()}"
    behave = scripts["behave"]
    pools = [
        pool(behave, "sleep", marker),
        pool(behave, "fail", marker, replicas=2),
        {},
        pool(behave, "sleep", marker),
    ]
    with pytest.raises(LocalJobFailed) as caught:
        run(tmp_path, pools)
    message = str(caught.value)
    assert "failed with exit code 3" in message
    assert "| line 59" in message and "| line 10\n" in message and "| line 9\n" not in message
    assert caught.value.replica in {"workerpool1-0", "workerpool1-1"}
    assert caught.value.result.state is JobState.FAILED
    failed = caught.value.result.replica(caught.value.replica)
    assert len(failed.tail) == 50 and failed.log_path.read_text().count("\n") == 60
    assert_none_alive(marker)


def test_evaluator_killed_by_signal_fails_the_job(tmp_path, scripts):
    marker = f"m-{uuid.uuid4()}"
    pools = [pool(scripts["behave"], "sleep", marker), {}, {}]
    pools.append(pool(scripts["behave"], "sigkill", marker))
    with pytest.raises(JobError, match=r"workerpool3-0 was killed by signal SIGKILL") as caught:
        run(tmp_path, pools)
    assert "about to die" in str(caught.value)
    assert_none_alive(marker)


def test_sigterm_ignored_escalates_to_sigkill(tmp_path, scripts):
    marker = f"m-{uuid.uuid4()}"
    pools = [
        pool(scripts["behave"], "ignore-term", marker),
        pool(scripts["behave"], "fail", marker),
    ]
    with pytest.raises(JobError, match="workerpool1-0 failed with exit code 3"):
        run(tmp_path, pools, stop_grace_s=0.5)
    assert_none_alive(marker)


def test_primary_done_early_waits_for_workers(tmp_path, scripts):
    """The worker finishes only after the primary has (it waits for the primary's file): the
    job still waits for it, so its flag exists when the job returns."""
    primary_done, flag = tmp_path / "primary-done", tmp_path / "late-done"
    behave = scripts["behave"]
    pools = [
        pool(behave, "ok", "x", str(primary_done)),
        pool(behave, "late", "x", str(flag), str(primary_done)),
    ]
    result = run(tmp_path, pools)
    assert result.state is JobState.SUCCEEDED and flag.exists()
    assert [r.exit_code for r in result.replicas] == [0, 0]


def test_timeout_kills_everything(tmp_path, scripts):
    marker = f"m-{uuid.uuid4()}"
    with pytest.raises(JobError, match=r"exceeded the timeout of 0\.5s") as caught:
        run(tmp_path, [pool(scripts["behave"], "sleep", marker)], timeout="0.5s")
    assert caught.value.result.state is JobState.TIMED_OUT
    assert_none_alive(marker)


def test_should_stop_cancels_and_kills_grandchildren(tmp_path, scripts):
    marker = f"m-{uuid.uuid4()}"
    pid_file = tmp_path / "grandchild.pid"
    result = run(
        tmp_path,
        [pool(scripts["behave"], "grandchild-sleep", marker, str(pid_file))],
        should_stop=pid_file.exists,
    )
    assert result.state is JobState.CANCELLED
    assert result.replicas[0].exit_code == -signal.SIGTERM
    assert_none_alive(marker)


def test_grandchild_of_a_finished_replica_is_killed(tmp_path, scripts):
    marker = f"m-{uuid.uuid4()}"
    pid_file = tmp_path / "grandchild.pid"
    result = run(tmp_path, [pool(scripts["behave"], "grandchild-exit", marker, str(pid_file))])
    assert result.state is JobState.SUCCEEDED and pid_file.exists()
    assert_none_alive(marker)


DRIVER = """
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from vtp.local.executor import LocalJob, run_local_job
job = LocalJob("driven", [{pool!r}])
run_local_job(job, work_dir=Path({tmp!r}) / "work", gcs_root=Path({tmp!r}) / "gcs",
              image_commands={{}}, log=lambda line: None)
"""


def _driver(tmp_path: Path, spec: dict) -> subprocess.Popen:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(repo=str(REPO), pool=spec, tmp=str(tmp_path)))
    return subprocess.Popen([sys.executable, str(driver)])


def test_sigterm_to_the_parent_stops_every_replica_group(tmp_path, scripts):
    marker = f"m-{uuid.uuid4()}"
    pid_file = tmp_path / "grandchild.pid"
    parent = _driver(tmp_path, pool(scripts["behave"], "grandchild-sleep", marker, str(pid_file)))
    try:
        wait_for(pid_file)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=10) == -signal.SIGTERM
    finally:
        parent.kill()
    assert_none_alive(marker)


def test_replicas_die_with_a_killed_parent(tmp_path, scripts):
    marker = f"m-{uuid.uuid4()}"
    ready = tmp_path / "ready"
    spec = pool(scripts["behave"], "grandchild-sleep", marker, str(ready))
    parent = _driver(tmp_path, spec)
    try:
        wait_for(ready)
        parent.kill()
        parent.wait(timeout=10)
    finally:
        parent.kill()
    grandchild = int(ready.read_text())
    # the grandchild outlives a SIGKILLed parent: only the replicas die (a leaked replica
    # fails the test at its timeout)
    wait_until(lambda: not [p for p in alive(marker) if p.pid != grandchild])
    for proc in alive(marker):
        proc.kill()


def test_python_package_spec_runs_the_module_in_its_own_environment(tmp_path, monkeypatch):
    """The package is installed (as Vertex installs it) into a cached environment keyed by its
    content, and `python -m MODULE` runs there; a module the package lacks fails up front."""
    from vtp.packaging import build_trainer, stage_local

    project = tmp_path / "src"
    (project / "mytrainer").mkdir(parents=True)
    (project / "mytrainer" / "__init__.py").write_text("")
    (project / "mytrainer" / "task.py").write_text(textwrap.dedent(DUMP))
    (project / "setup.py").write_text(
        "from setuptools import setup, find_packages\n"
        "setup(name='mytrainer', version='0.1', packages=find_packages())\n"
    )
    built = build_trainer(project, tmp_path / "dist")
    staged = stage_local(built, "gs://bucket/trainers", tmp_path / "gcs")
    (tmp_path / "dumps").mkdir()
    monkeypatch.chdir(project)  # the sources are here, but the replica must use the package
    spec = {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "python_package_spec": {
            "executor_image_uri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
            "package_uris": [staged.uri],
            "python_module": built.python_module,
            "args": ["--epochs=2"],
            "env": [{"name": "DUMP_DIR", "value": str(tmp_path / "dumps")}],
        },
    }
    lines: list[str] = []
    result = run(tmp_path, [spec], lines, extra_args=["--lr=0.5"], envs_root=tmp_path / "envs")
    (env_dir,) = [p for p in (tmp_path / "envs").iterdir() if p.is_dir()]
    assert result.replicas[0].command == [
        str(env_dir / "bin" / "python"),
        "-m",
        "mytrainer.task",
        "--epochs=2",
        "--lr=0.5",
    ]
    out = dumped(tmp_path, "workerpool0-0")
    assert out["main"] == "__main__" and out["argv"] == ["--epochs=2", "--lr=0.5"]
    assert any("building the environment" in line for line in lines)

    lines.clear()
    run(tmp_path, [spec], lines, envs_root=tmp_path / "envs")  # cached: not built again
    assert not any("building the environment" in line for line in lines)

    spec["python_package_spec"]["python_module"] = "not_installed_anywhere.task"
    with pytest.raises(JobError, match=r"not_installed_anywhere\.task") as caught:
        run(tmp_path, [spec], envs_root=tmp_path / "envs")
    assert "mytrainer-0.1.tar.gz" in str(caught.value)

    spec["python_package_spec"]["package_uris"] = ["gs://bucket/missing-0.1.tar.gz"]
    with pytest.raises(JobError, match="does not exist locally"):
        run(tmp_path, [spec], envs_root=tmp_path / "envs")


def test_image_without_command_uses_the_mapping(tmp_path, scripts):
    spec = pool(scripts["dump"], "--flag", env={"DUMP_DIR": str(tmp_path / "dumps")})
    spec["container_spec"]["command"] = []
    mapping = {"us-docker.pkg.dev/p/r/trainer": ["python3", str(scripts["dump"])]}
    result = run(tmp_path, [spec], image_commands=mapping)
    assert result.replicas[0].command == [sys.executable, str(scripts["dump"]), "--flag"]
    assert dumped(tmp_path, "workerpool0-0")["argv"] == ["--flag"]

    with pytest.raises(JobError) as caught:
        run(tmp_path, [spec], image_commands={})
    message = str(caught.value)
    assert "worker_pool_specs[0]" in message and "us-docker.pkg.dev/p/r/trainer:1" in message
    assert "VTP_IMAGE_COMMANDS" in message


def test_image_commands_from_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "VTP_IMAGE_COMMANDS": json.dumps(
            {
                "img:1": ["python", "-m", "t"],
                "img2": "python -m u",
                "img3": {
                    "command": "python task.py",
                    "env": {"MODE": "fast", "N": 3},
                    "workdir": "code",
                    "pythonpath": ["lib", "/abs/lib"],
                },
            }
        )
    }
    found = image_commands_from_env(env)
    assert found["img:1"].command == ("python", "-m", "t")
    assert found["img2"].command == ("python", "-m", "u")
    assert found["img3"] == ImageCommand(
        command=("python", "task.py"),
        env={"MODE": "fast", "N": "3"},
        workdir=str(tmp_path / "code"),
        pythonpath=(str(tmp_path / "lib"), "/abs/lib"),
        source="env VTP_IMAGE_COMMANDS",
    )
    assert image_commands_from_env({}) == {}
    for bad, field in (
        ("[1]", "VTP_IMAGE_COMMANDS"),
        ('{"img": []}', r"VTP_IMAGE_COMMANDS\['img'\] must map an image URI"),
        ('{"img": {"env": {}}}', r"VTP_IMAGE_COMMANDS\['img'\].command must map"),
        ('{"img": {"command": "x", "entrypoint": "y"}}', "may hold only"),
        ('{"img": {"command": "x", "env": ["A=1"]}}', r"\.env must map"),
        ("{not json", "JSON object"),
    ):
        with pytest.raises(SpecError, match=field):
            image_commands_from_env({"VTP_IMAGE_COMMANDS": bad})


def test_the_configuration_table_takes_the_same_values(tmp_path, monkeypatch):
    """`image_commands` in a vtp.toml: a table value, its directories from the file's."""
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "vtp.toml").write_text(
        '[image_commands]\n"team/trainer" = {command = "python -m t", workdir = "code", '
        'pythonpath = ["lib"], env = {MODE = "fast"}}\n'
    )
    monkeypatch.chdir(project / "sub")  # found walking up; directories are the file's
    monkeypatch.delenv("VTP_IMAGE_COMMANDS", raising=False)
    monkeypatch.delenv("VTP_CONFIG", raising=False)
    found = image_commands_from_env()["team/trainer"]
    assert found.command == ("python", "-m", "t") and found.env == {"MODE": "fast"}
    assert (found.workdir, found.pythonpath) == (str(project / "code"), (str(project / "lib"),))
    assert found.source == f"{project / 'vtp.toml'}"


def test_reference_images_have_built_in_commands():
    from vtp.shipped import trainers_root

    for image, module in (
        ("vtp-trainer:0.1.0", "trainer.task"),
        ("us-central1-docker.pkg.dev/p/images/vtp-trainer-gpu:abc", "trainer.task"),
        ("vtp-trainer-distributed@sha256:" + "0" * 64, "trainer.distributed.task"),
    ):
        found = find_image_command(image, {})
        assert found.command == ("python", "-m", module) and found.source == "built-in"
        assert found.pythonpath == (str(trainers_root()),)
    assert find_image_command("my-trainer:1", {}) is None
    mine = ImageCommand(("python", "-m", "mine"))
    assert find_image_command("vtp-trainer:0.1.0", {"vtp-trainer": mine}) is mine


def test_mapping_gives_env_workdir_and_pythonpath_not_ours(tmp_path, scripts, monkeypatch):
    """The image's ENV, WORKDIR and code path come from its mapping; our PYTHONPATH does not
    leak into the replica."""
    monkeypatch.setenv("PYTHONPATH", "/somewhere/of/ours")
    code = tmp_path / "code"
    code.mkdir()
    spec = pool(scripts["dump"], env={"DUMP_DIR": str(tmp_path / "dumps"), "MODE": "pool"})
    spec["container_spec"]["command"] = []
    mapping = {
        "us-docker.pkg.dev/p/r/trainer": {
            "command": ["python", str(scripts["dump"])],
            "env": {"MODE": "image", "ONLY_IMAGE": "gs://b/x"},
            "workdir": str(code),
            "pythonpath": [str(code)],
        }
    }
    run(tmp_path, [spec], image_commands=mapping)
    env = dumped(tmp_path, "workerpool0-0")["env"]
    assert env["MODE"] == "pool"  # the pool's env wins over the image's, as on Vertex
    assert env["ONLY_IMAGE"] == str((tmp_path / "gcs").resolve() / "b" / "x")
    assert env["PYTHONPATH"] == str(code)
    assert Path(dumped(tmp_path, "workerpool0-0")["cwd"]) == code


def test_replicas_run_in_a_fresh_directory_that_nothing_shadows(tmp_path, scripts, monkeypatch):
    """A module of the caller's working directory cannot stand in for the trainer's."""
    caller = tmp_path / "caller"
    (caller / "shadow").mkdir(parents=True)
    (caller / "shadow" / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    monkeypatch.chdir(caller)
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            import importlib.util, json, os, sys
            with open(os.environ["OUT"], "w") as f:
                json.dump({"cwd": os.getcwd(),
                           "shadow": importlib.util.find_spec("shadow") is not None}, f)
            """
        )
    )
    spec = pool(probe, env={"OUT": str(tmp_path / "out.json")})
    run(tmp_path, [spec])
    out = json.loads((tmp_path / "out.json").read_text())
    assert out == {"cwd": str(tmp_path / "work" / "replicas" / "workerpool0-0"), "shadow": False}


def test_reduction_server_pool_is_skipped(tmp_path, scripts):
    env = {"DUMP_DIR": str(tmp_path / "dumps")}
    reduction = {
        "machine_spec": {"machine_type": "n1-highcpu-16"},
        "replica_count": 2,
        "container_spec": {"image_uri": REDUCTION_SERVER},
    }
    lines: list[str] = []
    pools = [pool(scripts["dump"], env=env), pool(scripts["dump"], env=env), reduction]
    result = run(tmp_path, pools, lines)
    assert [r.name for r in result.replicas] == ["workerpool0-0", "workerpool1-0"]
    notes = [line for line in lines if "Reduction Server" in line]
    assert len(notes) == 1 and "workerpool2" in notes[0] and "not started" in notes[0]
    tf = json.loads(dumped(tmp_path, "workerpool1-0")["env"]["TF_CONFIG"])
    assert set(tf["cluster"]) == {"chief", "worker"}


def test_accelerator_pool_runs_on_cpu_with_a_notice(tmp_path, scripts, monkeypatch):
    env = {"DUMP_DIR": str(tmp_path / "dumps")}
    gpu = pool(scripts["dump"], env=env, accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    lines: list[str] = []
    run(tmp_path, [gpu], lines)
    notes = [line for line in lines if "NVIDIA_TESLA_T4" in line]
    assert len(notes) == 1 and "running on CPU" in notes[0]
    assert dumped(tmp_path, "workerpool0-0")["env"]["CUDA_VISIBLE_DEVICES"] == ""

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    lines.clear()
    run(tmp_path, [gpu], lines)
    notes = [line for line in lines if "NVIDIA_TESLA_T4" in line]
    assert len(notes) == 1 and "passing CUDA_VISIBLE_DEVICES='0' through" in notes[0]
    assert dumped(tmp_path, "workerpool0-0")["env"]["CUDA_VISIBLE_DEVICES"] == "0"

    run(tmp_path, [pool(scripts["dump"], env=env)], lines)  # a CPU pool never sees GPUs
    assert dumped(tmp_path, "workerpool0-0")["env"]["CUDA_VISIBLE_DEVICES"] == ""


@pytest.mark.parametrize(
    ("pools", "field"),
    [
        ([{}], r"worker_pool_specs\[0\]"),
        ([{"replica_count": 2, "container_spec": {"image_uri": "i"}}], "replica_count"),
        ([{"container_spec": {"image_uri": "i"}, "python_package_spec": {"x": 1}}], "one of"),
        ([{"container_spec": {"image_uri": "i"}}, {"replica_count": 0}], "exactly one"),
        (
            [{"container_spec": {"image_uri": "i"}}, {"replicaCount": 1.5, "containerSpec": {}}],
            "exactly one",
        ),
        (
            [
                {"container_spec": {"image_uri": "i"}},
                {"replicaCount": 1.5, "containerSpec": {"imageUri": "i"}},
            ],
            r"worker_pool_specs\[1\]\.replica_count",
        ),
        ([{"container_spec": {"image_uri": ""}}], "image_uri"),
        ([{"container_spec": {"image_uri": "i", "env": [{"value": "x"}]}}], r"env\[0\]"),
        ([{"container_spec": {"image_uri": "i"}}] * 5, "1 to 4"),
    ],
)
def test_invalid_pools_are_rejected(pools, field):
    with pytest.raises(SpecError, match=field):
        parse_pools(pools)


def test_pool_normalisation_and_timeouts():
    pools = parse_pools(
        [
            {"containerSpec": {"imageUri": "i", "command": ["python"]}},
            {},
            {
                "replica_count": "2",
                "machine_spec": {"acceleratorType": "NVIDIA_L4", "acceleratorCount": 2.0},
                "container_spec": {"image_uri": "j", "args": ["--n", 3]},
            },
        ]
    )
    assert [p.index for p in pools] == [0, 2]
    assert pools[1].replica_count == 2 and pools[1].accelerator_count == 2
    assert pools[1].has_accelerator and pools[1].args == ("--n", "3")
    assert parse_timeout("3600s") == 3600 and parse_timeout("0.5s") == 0.5
    assert parse_timeout("") == 604800
    for bad in ("10", "1h", "-1s", "0s"):
        with pytest.raises(SpecError, match=r"scheduling\.timeout"):
            parse_timeout(bad)


def test_runs_from_a_worker_thread(tmp_path, scripts):
    results: list = []
    env = {"DUMP_DIR": str(tmp_path / "dumps")}
    worker = threading.Thread(
        target=lambda: results.append(run(tmp_path, [pool(scripts["dump"], env=env)]))
    )
    worker.start()
    worker.join(timeout=30)
    assert results and results[0].state is JobState.SUCCEEDED
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_gcs_path_written_in_the_code_fails_with_the_rule(tmp_path):
    """Paths a replica is given are mapped onto the local root; a `/gcs/` literal in the
    trainer's code is not, and the failure says why."""
    script = tmp_path / "literal.py"
    script.write_text("open('/gcs/my-bucket/model/model.joblib', 'wb')\n")
    with pytest.raises(LocalJobFailed) as caught:
        run(tmp_path, [pool(script)])
    message = str(caught.value)
    assert "hint: the log names a /gcs/ path" in message
    assert "a /gcs/ path written in the trainer's code is not" in message
