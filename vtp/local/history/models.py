"""Registered models and the lineage of each version: the run that registered it, the data it
was trained on, the trainer and its hyperparameters, and its evaluation. The registry is read
with SQLite's read-only mode; the lineage is derived from the run records."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from vtp.errors import RegistryError
from vtp.home import LocalHome
from vtp.local.history import evaluations
from vtp.local.history.runs import CUSTOM_JOB, DATASET, NotFound, Runs, RunView, StepView
from vtp.local.history.tuning import TuningJob, TuningJobs
from vtp.local.registry import LocalModelRegistry, ModelVersion

_ID = re.compile(r"[A-Za-z0-9_-]+")
_ARG = re.compile(r"--([A-Za-z][\w-]*)=(.*)")


@dataclass(frozen=True)
class Model:
    model_id: str
    display_name: str
    versions: list[ModelVersion]

    @property
    def default(self) -> ModelVersion:
        return next((v for v in self.versions if v.is_default), self.versions[-1])


@dataclass(frozen=True)
class Trainer:
    """What trained the model: the custom job's primary pool, or a tuning trial's."""

    source: str  # "custom job ID" / "tuning job ID, trial N"
    image: str
    command: list[str]
    args: list[str]
    step: str = ""


@dataclass(frozen=True)
class Lineage:
    """Where a model version came from, as far as the run records tell."""

    version: ModelVersion
    run: RunView | None
    upload_step: str = ""
    data_source: str = ""
    datasets: list[dict[str, Any]] = field(default_factory=list)  # name, uri, rows, step
    trainer: Trainer | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    hyperparameters_from: str = ""
    tuning_job: TuningJob | None = None
    evaluation: evaluations.Evaluation | None = None


class Models:
    """The local model registry of one vtp home, read-only."""

    def __init__(self, home: LocalHome):
        self.home = home

    def registry(self) -> LocalModelRegistry | None:
        """None when no pipeline registered a model yet."""
        if not self.home.registry_db.is_file():
            return None
        return LocalModelRegistry(self.home.registry_db, read_only=True)

    def list(self) -> list[Model]:
        registry = self.registry()
        if registry is None:
            return []
        return [self._model(registry, m.model_id) for m in registry.list_models()]

    def get(self, model_id: str) -> Model:
        """Raises: NotFound: no model `model_id` (an id, not a display name)."""
        registry = self.registry()
        if registry is None or not _ID.fullmatch(model_id or ""):
            raise NotFound(f"no model {model_id!r} in the local registry")
        try:
            return self._model(registry, model_id)
        except RegistryError:
            raise NotFound(f"no model {model_id!r} in the local registry") from None

    def version(self, model_id: str, version_id: str) -> ModelVersion:
        model = self.get(model_id)
        for v in model.versions:
            if v.version_id == version_id:
                return v
        raise NotFound(
            f"model {model_id} has no version {version_id!r}; versions: "
            + ", ".join(v.version_id for v in model.versions)
        )

    def _model(self, registry: LocalModelRegistry, model_id: str) -> Model:
        versions = registry.list_versions(model_id)
        default = next((v for v in versions if v.is_default), versions[-1])
        return Model(model_id, default.display_name, versions)

    def lineage(self, version: ModelVersion) -> Lineage:
        """The run that registered `version` and what went into it."""
        runs = Runs(self.home)
        found = None
        for view in runs.list():
            if version.resource_name in view.model_versions:
                found = runs.get(view.run_id)
                break
        if found is None:
            return Lineage(version=version, run=None)
        return _lineage(version, found, TuningJobs(self.home))


def _lineage(version: ModelVersion, run: RunView, jobs: TuningJobs) -> Lineage:
    upload = next(s for s in run.steps if version.resource_name in s.resources)
    datasets = [
        {
            "name": name,
            "uri": art.get("uri", ""),
            "rows": (art.get("metadata") or {}).get("row_count"),
            "step": s.label,
        }
        for s in run.leaf_steps
        for name, art in s.artifacts(DATASET).items()
    ]
    tuning = None
    for job_id in run.tuning_jobs:
        try:
            tuning = jobs.get(job_id)
        except NotFound:
            continue
    trainer, hyper, hyper_from = _trainer(version.artifact_uri, run, tuning)
    evaluation = _evaluation_of(version.artifact_uri, run)
    return Lineage(
        version=version,
        run=run,
        upload_step=upload.label,
        data_source=str(run.params.get("data_source", "")),
        datasets=datasets,
        trainer=trainer,
        hyperparameters=hyper,
        hyperparameters_from=hyper_from,
        tuning_job=tuning,
        evaluation=evaluation,
    )


def _under(uri: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return bool(prefix) and (uri.rstrip("/") == prefix or uri.startswith(prefix + "/"))


def _pool(specs: Any) -> dict[str, Any]:
    if isinstance(specs, str):
        try:
            specs = json.loads(specs)
        except ValueError:
            return {}
    return specs[0] if isinstance(specs, list) and specs and isinstance(specs[0], dict) else {}


def _trainer(
    model_uri: str, run: RunView, tuning: TuningJob | None
) -> tuple[Trainer | None, dict[str, Any], str]:
    """The trainer whose output directory holds the model, and its hyperparameters: a trial of
    the run's tuning job (its parameters), else a custom job (its `--name=value` arguments)."""
    job = tuning.output_uri_prefix if tuning is not None else ""
    if tuning is not None and _under(model_uri, job):
        trial = model_uri[len(job.rstrip("/")) + 1 :].split("/", 1)[0]
        chosen = next((t for t in tuning.trials if str(t.get("id")) == trial), None)
        hyper = {p["parameterId"]: p.get("value") for p in (chosen or {}).get("parameters", [])}
        trainer = _from_pool(tuning.trial_pool, f"tuning job {tuning.job_id}, trial {trial}")
        return trainer, hyper, f"trial {trial} of tuning job {tuning.job_id}"
    for s in run.leaf_steps:
        params = s.inputs.get("parameters") or {}
        base = params.get("base_output_directory")
        if (
            isinstance(base, str)
            and _under(model_uri, base)
            and "worker_pool_specs" in params
            and _id_of(s, CUSTOM_JOB) != "?"
        ):
            pool = _pool(params["worker_pool_specs"])
            trainer = _from_pool(pool, f"custom job {_id_of(s, CUSTOM_JOB)}", s.label)
            return trainer, _hyperparameters(trainer.args), f"arguments of step {s.label}"
    hyper = run.params.get("hyperparameters")
    if isinstance(hyper, dict):
        return None, hyper, "the run's hyperparameters parameter"
    return None, {}, ""


def _id_of(step: StepView, kind: str) -> str:
    for r in step.resources:
        parts = r.split("/")
        if len(parts) >= 2 and parts[-2] == kind:
            return parts[-1]
    return "?"


def _from_pool(pool: dict[str, Any], source: str, step: str = "") -> Trainer:
    container = pool.get("container_spec") or pool.get("containerSpec") or {}
    package = pool.get("python_package_spec") or pool.get("pythonPackageSpec") or {}
    if package:
        module = package.get("python_module") or package.get("pythonModule") or ""
        return Trainer(
            source,
            package.get("executor_image_uri") or package.get("executorImageUri") or "",
            ["python", "-m", module],
            list(package.get("args") or []),
            step,
        )
    return Trainer(
        source,
        container.get("image_uri") or container.get("imageUri") or "",
        list(container.get("command") or []),
        list(container.get("args") or []),
        step,
    )


def _hyperparameters(args: list[str]) -> dict[str, str]:
    """`--name=value` arguments of the trainer, other than the data and metric ones."""
    skip = {"target-column", "metric", "training-data", "validation-data", "test-data"}
    out = {}
    for arg in args:
        m = _ARG.fullmatch(arg)
        if m and m[1] not in skip:
            out[m[1].replace("-", "_")] = m[2]
    return out


def _evaluation_of(model_uri: str, run: RunView) -> evaluations.Evaluation | None:
    """The evaluation of the step that read this model directory (else the run's first)."""
    found = evaluations.of_run(run)
    for e in found:
        step = run.step(e.step)
        for art in (step.inputs.get("artifacts") or {}).values():
            if isinstance(art, dict) and _under(art.get("uri", ""), model_uri):
                return e
    return found[0] if found else None
