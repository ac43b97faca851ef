"""`vtp check`: the Vertex payloads a compiled pipeline holds, validated before anything runs,
and what vtp's local orchestrator would refuse.

Each task is recognised by what it runs: GCPC's launchers (custom job, hyperparameter tuning
job, model upload) and vtp's twins of them, `dsl.importer`s of an `UnmanagedContainerModel`,
and vtp's components that build payloads (`training_job_spec`, `unmanaged_container_model`).
Their inputs are followed through enclosing DAGs to constants, component defaults and pipeline
parameter defaults; what only a run produces is noted as checked at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from vtp.check.images import problems as image_problems
from vtp.check.images import uses as image_uses
from vtp.check.ir import (
    CheckInputError,
    PipelineIR,
    Task,
    launcher_module,
    load_pipeline,
    python_function,
    python_source,
    walk,
)
from vtp.check.report import PROBLEM, WARNING, FileReport, Finding, Report, TaskCheck
from vtp.config import Images

#: GCPC launcher modules (`google_cloud_pipeline_components.container.<version>.<...>`) by the
#: end of their name -> payload kind.
GCPC_LAUNCHERS = {
    ".custom_job.launcher": "custom_job",
    ".hyperparameter_tuning_job.launcher": "tuning_job",
    ".upload_model.launcher": "model_upload",
}
#: vtp components (function name) -> payload kind.
VTP_FUNCTIONS = {
    "custom_training_job": "custom_job",
    "hyperparameter_tuning_job": "tuning_job",
    "model_upload": "model_upload",
    "unmanaged_container_model": "serving_container",
    "training_job_spec": "job_spec",
}
_CONTAINER_KINDS = ("importer_model", "serving_container")


def task_kind(task: Task) -> str | None:
    """The payload kind of `task` (a key of `CHECKS`), or None."""
    from vtp.check.models import UNMANAGED_CONTAINER_MODEL

    executor = task.executor
    if executor is None:
        return None
    if "importer" in executor:
        schema = (executor["importer"].get("typeSchema") or {}).get("schemaTitle")
        return "importer_model" if schema == UNMANAGED_CONTAINER_MODEL else None
    module = launcher_module(executor)
    if module.startswith("google_cloud_pipeline_components.container."):
        return next((k for end, k in GCPC_LAUNCHERS.items() if module.endswith(end)), None)
    function = python_function(executor)
    if function in VTP_FUNCTIONS and "from vtp." in python_source(executor):
        return VTP_FUNCTIONS[function]
    return None


def _checks() -> dict[str, Callable[[TaskCheck], None]]:
    from vtp.check import jobs, models

    def upload(c: TaskCheck) -> None:
        models.check_model_upload(c, lambda task: task_kind(task) in _CONTAINER_KINDS)

    return {
        "custom_job": jobs.check_custom_job,
        "tuning_job": jobs.check_tuning_job,
        "model_upload": upload,
        "importer_model": models.check_importer_model,
        "serving_container": models.check_serving_container,
        "job_spec": jobs.check_job_spec_component,
    }


def default_paths(compiled: str | Path = "compiled") -> list[Path]:
    """What `vtp check` reads when given no paths: `<compiled>/pipelines` and
    `<compiled>/components` that exist (`compiled` of the configuration)."""
    return [p for p in (Path(compiled) / "pipelines", Path(compiled) / "components") if p.is_dir()]


def collect(paths: Sequence[str | Path]) -> list[Path]:
    """The YAML files to check: files as given, directories searched for `*.yaml`/`*.yml`.

    Raises:
        CheckInputError: a path that does not exist, a directory without YAML, or no paths.
    """
    if not paths:
        raise CheckInputError("nothing to check: give PATHS, or `vtp compile` first")
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
            )
            if not found:
                raise CheckInputError(f"{path}: no .yaml or .yml files in this directory")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise CheckInputError(f"{path}: no such file or directory")
    return list(dict.fromkeys(files))


def check_paths(
    paths: Sequence[str | Path],
    *,
    local: bool = False,
    images: Images | None = None,
    template: bool = False,
) -> Report:
    """Check every compiled pipeline under `paths`.

    Every file is loaded before any is checked, so an unreadable one stops the command
    before it reports anything.

    Args:
        paths: Files or directories.
        local: The pipelines also run locally: what vtp's local orchestrator would refuse
            is a problem, not a warning.
        images: The configured images (`vtp.check.images`); default: the template's.
        template: The files are templates (vtp's shipped `compiled/`): the image rule is
            left out, and one note names the template images.

    Raises:
        CheckInputError: a path that is missing or is not a compiled pipeline or component.
    """
    pipelines = [load_pipeline(path) for path in collect(paths)]
    images = images or Images()
    report = Report(
        [check_pipeline(ir, local=local, images=None if template else images) for ir in pipelines]
    )
    if template:
        named = sorted({u.image for ir in pipelines for u in image_uses(ir.spec)})
        if named:
            report.notes.append(
                f"vtp check: templates: vtp's images are named without a registry "
                f"({', '.join(named)}); `vtp compile` with `registry` set (`vtp config`) "
                "makes pipelines Vertex can run"
            )
    return report


def check_pipeline(
    ir: PipelineIR, *, local: bool = False, images: Images | None = None
) -> FileReport:
    """Every payload of one compiled pipeline or component, the images it runs with (unless
    `images` is None), then what the local orchestrator would refuse."""
    from vtp.check.jobs import check_worker_pools_input
    from vtp.check.local_rules import local_findings

    report = FileReport(str(ir.path))
    checks = _checks()
    for task in walk(ir):
        if task.executor is None:
            continue
        report.tasks += 1
        kind = task_kind(task)
        check = TaskCheck(task, report.findings)
        if kind is not None:
            checks[kind](check)
        elif "worker_pool_specs" in task.input_names():
            check_worker_pools_input(check)
        if check.checked:
            report.payloads += 1
    if images is not None:
        report.findings += [Finding(PROBLEM, "", text) for text in image_problems(ir.spec, images)]
    report.findings += local_findings(ir, PROBLEM if local else WARNING)
    return report


__all__ = [
    "CheckInputError",
    "Report",
    "check_paths",
    "check_pipeline",
    "collect",
    "default_paths",
    "task_kind",
]
