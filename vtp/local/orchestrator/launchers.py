"""GCPC's Vertex launchers, dispatched to the local twins with the request they would send.

A launcher task's container runs `python3 -u -m google_cloud_pipeline_components.container.
v1.<service>.launcher` with arguments holding placeholders (`--payload` is the resource as JSON
with the task's inputs spliced in). The arguments are filled in as Vertex fills them
(`placeholders.fill_command`) and parsed by GCPC's own argument parser
(`gcp_launcher.utils.parser_util.parse_default_args`); the twin then receives exactly the
payload the launcher would turn into its API request. The twins run inside the orchestrator's
process, one thread per task: the Vertex protos they validate against are imported once per
run, and every replica and trial they start is this process's child.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from vtp.errors import JobError
from vtp.local.orchestrator.executor_io import Outputs
from vtp.local.orchestrator.executors import (
    Executor,
    Refusal,
    StepCancelled,
    StepContext,
    StepFailed,
)
from vtp.local.orchestrator.placeholders import fill_command

_PREFIX = "google_cloud_pipeline_components.container."
#: Launcher module (after `google_cloud_pipeline_components.container.<version>.`) -> twin.
TWINS = {
    "custom_job.launcher": "custom_job",
    "hyperparameter_tuning_job.launcher": "tuning_job",
    "model.upload_model.launcher": "model_upload",
    "model.get_model.launcher": "model_get",
}

_GCPC_UTILS = "google_cloud_pipeline_components.container.v1.gcp_launcher.utils."
_JOB_MODULES = (
    _GCPC_UTILS + "parser_util",
    _GCPC_UTILS + "json_util",
    "vtp.components.specs",
    "vtp.gcs",
    "vtp.local.executor",
    "vtp.local.limits",
    "vtp.local.twins.records",
    "vtp.components.specs._proto",
    "vtp.aiplatform_types",
    "vtp.local.twins.custom_job_runtime",
)
_UPLOAD_MODULES = (
    _GCPC_UTILS + "parser_util",
    _GCPC_UTILS + "json_util",
    "google_cloud_pipeline_components.container.utils.artifact_utils",
    "google_cloud_pipeline_components.container.v1.model.upload_model.remote_runner",
    "google_cloud_pipeline_components.types.artifact_types",
    "vtp.local.registry",
    "vtp.local.twins.records",
    "vtp.local.twins.model_upload_runtime",
)
#: The modules each twin's handler imports (see `preload`).
_PRELOAD: dict[str, tuple[str, ...]] = {
    "custom_job": _JOB_MODULES,
    "tuning_job": (
        *_JOB_MODULES,
        "vtp.local.tuner",
        "vtp.local.twins.tuning_job_runtime",
    ),
    "model_upload": _UPLOAD_MODULES,
    "model_get": _UPLOAD_MODULES,
}

_preloaded = threading.Event()
_preloaded.set()


def preload(executors: Iterable[Executor]) -> None:
    """Imports, in one thread started now, the modules the launchers of `executors` import;
    launchers wait for it before they start. Launchers run in worker threads, and two threads
    importing one package's modules at once can each find the other's module half initialised
    ("cannot import name ... from partially initialized module"); one importing thread cannot.
    Other steps start meanwhile."""
    modules = list(
        dict.fromkeys(
            m for e in executors if isinstance(e, LauncherExecutor) for m in _PRELOAD[e.twin]
        )
    )
    if not modules:
        return

    def load() -> None:
        try:
            for module in modules:
                with contextlib.suppress(ImportError):  # the handler raises it, in its step
                    importlib.import_module(module)
        finally:
            _preloaded.set()

    _preloaded.clear()
    threading.Thread(target=load, name="vtp-preload", daemon=True).start()


@dataclass
class LauncherExecutor(Executor):
    module: str
    twin: str
    command: list[Any]
    args: list[Any]
    kind: str = "launcher"

    def describe(self) -> str:
        return f"launcher:{self.twin}"

    def run(self, ctx: StepContext) -> Outputs | None:
        _preloaded.wait()
        argv = fill_command(
            [*self.command, *self.args], ctx.executor_input, ctx.pipeline_values, ctx.local_path
        )
        args = argv[argv.index(self.module) + 1 :]
        handler: Callable[[list[str], StepContext], None] = getattr(self, f"_{self.twin}")
        try:
            handler(args, ctx)
        except StepCancelled:
            raise
        except (JobError, RuntimeError, ValueError) as err:
            from vtp.local.tuner import TuningJobCancelled
            from vtp.local.twins.custom_job_runtime import JobCancelled

            if isinstance(err, JobCancelled | TuningJobCancelled):
                raise StepCancelled(str(err)) from None
            log_path, cause = _failed_replica(err)
            raise StepFailed(str(err), log_path=log_path, cause=cause) from None
        return None

    # Each handler parses the arguments as its GCPC launcher does.

    def _default_args(self, args: list[str]) -> dict[str, Any]:
        from google_cloud_pipeline_components.container.v1.gcp_launcher.utils import (
            parser_util,
        )

        try:
            _, parsed = parser_util.parse_default_args(args)
        except SystemExit:
            raise StepFailed(
                f"the {self.module} arguments do not parse as GCPC's launcher parses them: {args}"
            ) from None
        return vars(parsed)

    def _custom_job(self, args: list[str], ctx: StepContext) -> None:
        from vtp.local.twins.custom_job_runtime import run_custom_job_twin

        parsed = self._default_args(args)
        if parsed["type"] != "CustomJob":
            raise StepFailed(f"Incorrect job type: {parsed['type']}")
        name = run_custom_job_twin(
            gcp_resources_path=parsed["gcp_resources"],
            project=parsed["project"],
            location=parsed["location"],
            payload=_payload(parsed["payload"]),
            log=ctx.log,
            should_stop=ctx.should_stop,
            notice=ctx.notice,
            progress=ctx.progress,
        )
        ctx.note_resource(name)

    def _tuning_job(self, args: list[str], ctx: StepContext) -> None:
        from vtp.local.twins.tuning_job_runtime import run_tuning_job_twin

        parsed = self._default_args(args)
        if parsed["type"] != "HyperparameterTuningJob":
            raise StepFailed(
                f"launcher type {parsed['type']!r}: the local twin runs HyperparameterTuningJob"
            )
        run_tuning_job_twin(
            gcp_resources_path=parsed["gcp_resources"],
            project=parsed["project"],
            location=parsed["location"],
            payload=_payload(parsed["payload"]),
            log=ctx.log,
            should_stop=ctx.should_stop,
            notice=ctx.notice,
            progress=ctx.progress,
        )
        from vtp.local.twins.records import existing_resource

        name = existing_resource(parsed["gcp_resources"], "hyperparameterTuningJobs")
        if name:
            ctx.note_resource(name)

    def _model_upload(self, args: list[str], ctx: StepContext) -> None:
        from google_cloud_pipeline_components.container.v1.gcp_launcher.utils import (
            parser_util,
        )

        from vtp.local.twins.model_upload_runtime import upload_from_launcher

        parser, _ = parser_util.parse_default_args(args)
        parser.add_argument("--executor_input", dest="executor_input", type=str, required=True)
        parser.add_argument("--parent_model_name", dest="parent_model_name", default=None)
        parsed = vars(parser.parse_known_args(args)[0])
        if parsed["type"] != "UploadModel":
            raise StepFailed(f"Incorrect job type: {parsed['type']}")
        name = upload_from_launcher(
            project=parsed["project"],
            location=parsed["location"],
            payload=parsed["payload"],
            gcp_resources=parsed["gcp_resources"],
            executor_input=parsed["executor_input"],
            parent_model_name=parsed["parent_model_name"],
            log=ctx.log,
        )
        ctx.note_resource(name)

    def _model_get(self, args: list[str], ctx: StepContext) -> None:
        from vtp.local.twins.model_upload_runtime import get_from_launcher

        parser = argparse.ArgumentParser(prog="Vertex Pipelines get model launcher")
        parser.add_argument("--executor_input", dest="executor_input", type=str, required=True)
        parser.add_argument("--project", dest="project", type=str)
        parser.add_argument("--location", dest="location", type=str)
        parser.add_argument("--model_name", dest="model_name", type=str)
        parsed = vars(parser.parse_known_args(args)[0])
        name = get_from_launcher(
            project=parsed["project"],
            location=parsed["location"],
            model_name=parsed["model_name"],
            executor_input=parsed["executor_input"],
            log=ctx.log,
        )
        ctx.note_resource(name)


def _failed_replica(err: Exception) -> tuple[str, str]:
    """The log of the replica whose failure failed a local job and the line of its output
    that says why (else the first line of `err`); ('', '') if no replica failed."""
    from vtp.local.executor import LocalJobFailed
    from vtp.local.orchestrator.failures import cause_line

    if isinstance(err, LocalJobFailed) and err.replica:
        with contextlib.suppress(StopIteration, AttributeError):
            replica = err.result.replica(err.replica)
            return str(replica.log_path), cause_line(list(replica.tail), str(err))
    return "", ""


def _payload(text: str) -> dict[str, Any]:
    try:
        payload = json.loads(text, strict=False)
    except json.JSONDecodeError as err:
        raise StepFailed(
            f"the launcher's --payload is not JSON once its placeholders are filled in ({err}); "
            "a string input holding a quote or a backslash breaks it, on Vertex as well: "
            f"{text[:300]}"
        ) from None
    if not isinstance(payload, dict):
        raise StepFailed(f"the launcher's --payload is not a JSON object: {text[:300]}")
    return payload


def launcher_executor(module: str, command: list, args: list, component: str) -> Executor:
    """The executor of GCPC launcher `module`, or a Refusal naming it."""
    tail = module[len(_PREFIX) :].split(".", 1)[-1] if module.startswith(_PREFIX) else module
    twin = TWINS.get(tail)
    if twin is None:
        supported = ", ".join(f"{_PREFIX}v1.{t}" for t in TWINS)
        raise Refusal(
            f"component {component!r} runs GCPC's launcher {module}, which has no local twin "
            f"(local twins: {supported}); run this pipeline on Vertex AI"
        )
    return LauncherExecutor(module, twin, list(command), list(args))
