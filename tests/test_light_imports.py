"""Commands that call no Vertex API import neither the Vertex AI SDK nor the API's service
clients (`vtp compile`, `vtp list`, `vtp check`: benchmarks/bench_commands.py has the timings).
Each case runs in a fresh interpreter and asserts on `sys.modules` after the command: the
mechanism, not the clock."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

# each case is a fresh interpreter: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
#: Modules that would mean the SDK or the service clients were imported.
HEAVY = (
    "google.cloud.aiplatform",
    "google_cloud_pipeline_components.v1.hyperparameter_tuning_job.utils",
    "google.cloud.aiplatform_v1.services.job_service",
    "pandas",
    "sklearn",
)

PROBE = """
import json, sys
from vtp.cli.main import main

code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.modules if m in HEAVY)}))
"""


def run_command(*argv: str, cwd: Path = REPO) -> dict:
    script = f"HEAVY = {HEAVY!r}\n{PROBE}"
    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [("list",), ("list", "tuning"), ("check", "--template", "--local"), ("config",)],
    ids=" ".join,
)
def test_commands_that_call_no_vertex_api_load_no_sdk(argv):
    result = run_command(*argv)
    assert result == {"code": 0, "loaded": []}


def test_compile_loads_no_sdk(tmp_path):
    result = run_command("compile", "--out", str(tmp_path / "out"))
    assert result == {"code": 0, "loaded": []}
    assert (tmp_path / "out" / "pipelines" / "tuning.yaml").is_file()


def test_the_api_types_load_first_and_the_full_package_later():
    """`vtp.aiplatform_types` loads the message types alone; the SDK imported afterwards in
    the same process finds the whole package: its `__init__` runs on first use."""
    script = """
import sys
from vtp.aiplatform_types import aiplatform_types, message
types = aiplatform_types()
assert message("CustomJob") is types.CustomJob
assert "google.cloud.aiplatform_v1.services.job_service" not in sys.modules
from google.cloud import aiplatform_v1
from google.cloud import aiplatform
assert aiplatform_v1.types is types and aiplatform_v1.CustomJob is types.CustomJob
assert aiplatform_v1.JobServiceClient.__module__.endswith("job_service.client")
assert aiplatform.CustomJob and aiplatform.PipelineJob
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_loading_a_pipeline_reads_kfps_message_without_kfps_client():
    """The orchestrator validates a YAML as KFP's `PipelineSpec` without running `kfp`'s
    `__init__` (its client and the Kubernetes library); `kfp` used afterwards is whole."""
    script = """
import sys
from vtp.local.orchestrator import load_pipeline
from vtp.shipped import compiled_pipelines
load_pipeline(compiled_pipelines() / "training.yaml")
assert "kfp.pipeline_spec.pipeline_spec_pb2" in sys.modules
assert "kubernetes" not in sys.modules and "kfp.client" not in sys.modules
import kfp
from kfp import dsl
assert kfp.__version__ and kfp.TYPE_CHECK is True  # set by kfp's __init__, run on demand
assert kfp.Client.__module__ == "kfp.client.client" and dsl.component
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_gcpc_tuning_op_loads_alone_and_is_the_packages_op():
    script = """
import sys
from vtp.components.targets import VERTEX
op = VERTEX.HyperparameterTuningJobRunOp
assert "google.cloud.aiplatform" not in sys.modules
from google_cloud_pipeline_components.v1.hyperparameter_tuning_job import (
    HyperparameterTuningJobRunOp, serialize_parameters)
assert HyperparameterTuningJobRunOp is op
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.strip() == "ok", done.stderr


WEB = ("starlette", "jinja2", "uvicorn", "playwright", "vtp.ui.app")


@pytest.mark.parametrize("argv", [("--help",), ("ui", "--help"), ("runs", "list")], ids=" ".join)
def test_help_and_runs_load_no_web_framework(argv, tmp_path):
    """`vtp --help` and `vtp runs` stay light: the UI's framework loads when `vtp ui` serves."""
    script = f"""
import contextlib, json, sys
from vtp.cli.main import main
with contextlib.redirect_stdout(sys.stderr):
    try:
        code = main(sys.argv[1:])
    except SystemExit as done:
        code = done.code
heavy = {(*HEAVY, *WEB)!r}
print(json.dumps({{"code": code, "loaded": sorted(m for m in sys.modules if m in heavy)}}))
"""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            *argv,
            *(["--home", str(tmp_path)] if "list" in argv else []),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "loaded": []}
