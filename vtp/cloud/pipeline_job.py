"""A Vertex AI pipeline run request: template, typed parameters and run options, all checked
here before anything is sent. Used by `vtp submit` and by `vtp schedule create`."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vtp.cloud.templates import ResolvedTemplate
from vtp.cloud.vertex_client import Target
from vtp.components.specs._validate import FrozenMap, check_labels
from vtp.errors import SpecError, VtpError

FAILURE_POLICIES = ("fast", "slow")
_JOB_ID = re.compile(r"[a-z][-a-z0-9]{0,127}")
_SERVICE_ACCOUNT = re.compile(r"[a-z0-9][a-z0-9._+-]*@([a-z0-9-]+\.)*gserviceaccount\.com")
_NETWORK = re.compile(r"projects/\d+/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_EXPERIMENT = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
_PIPELINE_ROOT = re.compile(r"gs://[a-z0-9][-_.a-z0-9]{1,220}[a-z0-9](/.*)?")


@dataclass(frozen=True)
class RunOptions:
    """Everything about a run but its template and parameters; checked when built.

    Attributes:
        display_name: the run's display name (default: the pipeline's name).
        pipeline_root: `gs://` root of the run's artifacts (default: the YAML's, else the
            SDK's per-project bucket).
        labels: run labels (Vertex label rules).
        enable_caching: None keeps each task's compiled caching options; True/False
            overrides every task.
        failure_policy: `fast` (stop scheduling tasks after a failure) or `slow` (default).
        service_account: the run-as service account (an email).
        network: VPC to peer with, `projects/<project number>/global/networks/<name>`.
        job_id: the run id (default: `<pipeline>-<UTC timestamp>-<random>`).
    """

    display_name: str | None = None
    pipeline_root: str | None = None
    labels: Mapping[str, str] = field(default_factory=FrozenMap)
    enable_caching: bool | None = None
    failure_policy: str | None = None
    service_account: str | None = None
    network: str | None = None
    job_id: str | None = None

    def __post_init__(self):
        check_display_name(self.display_name)
        if self.pipeline_root is not None:
            check_pipeline_root("pipeline_root", self.pipeline_root)
        object.__setattr__(self, "labels", check_labels("labels", self.labels))
        if self.failure_policy is not None and self.failure_policy not in FAILURE_POLICIES:
            raise SpecError(
                "failure_policy",
                self.failure_policy,
                f"must be one of {', '.join(FAILURE_POLICIES)}",
            )
        if self.service_account is not None:
            check_service_account("service_account", self.service_account)
        _match(
            "network",
            self.network,
            _NETWORK,
            "must be projects/<project number>/global/networks/<network name>",
        )
        _match(
            "job_id",
            self.job_id,
            _JOB_ID,
            "must start with a lowercase letter and hold lowercase letters, digits and - "
            "(at most 128 characters)",
        )


def check_pipeline_root(field: str, value: str) -> str:
    """A pipeline root: `gs://BUCKET[/PATH]`."""
    return _match(field, value, _PIPELINE_ROOT, "must be gs://BUCKET[/PATH]")


def check_service_account(field: str, value: str) -> str:
    """A service account email."""
    return _match(
        field,
        value,
        _SERVICE_ACCOUNT,
        "must be a service account email (NAME@PROJECT.iam.gserviceaccount.com)",
    )


def check_experiment(name: str | None) -> str | None:
    """A Vertex AI experiment name: lowercase letters, digits and -, at most 128."""
    return _match(
        "experiment",
        name,
        _EXPERIMENT,
        "must hold lowercase letters, digits and - (at most 128 characters, not starting with -)",
    )


def check_display_name(display_name: str | None) -> None:
    """A run's or a schedule's display name: unset, or 1 to 128 characters (Vertex's limit)."""
    if display_name is not None and not 0 < len(display_name) <= 128:
        raise SpecError("display_name", display_name, "must be 1 to 128 characters")


def _match(name: str, value: str | None, pattern: re.Pattern[str], allowed: str) -> str | None:
    if value is not None and not pattern.fullmatch(value):
        raise SpecError(name, value, allowed)
    return value


def parse_labels(items: list[str]) -> dict[str, str]:
    """`["team=ml", "env=prod"]` -> `{"team": "ml", "env": "prod"}`."""
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpecError("--label", item, "must look like KEY=VALUE")
        labels[key] = value
    return labels


def load_pipeline(template: ResolvedTemplate):
    """The compiled YAML as a KFP component (its declared inputs type the parameters)."""
    from kfp import components

    try:
        return components.load_component_from_file(str(template.path))
    except Exception as err:  # kfp raises several types for a file that is not a pipeline
        raise VtpError(f"{template.path} is not a compiled KFP pipeline: {err}") from None


def check_parameters(
    template: ResolvedTemplate,
    where: Target,
    *,
    assignments: Mapping[str, str] | None = None,
    file_values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Typed parameters, checked against the pipeline's declared inputs before any request.

    `project` and `location`, when the pipeline declares them and nobody set them, are the
    run's own. A pipeline of vtp's catalog (by name) also gets its own checks (split
    fractions, job payload, ...).

    Raises:
        ParameterError: an unknown name, a value of the wrong type, a missing parameter.
        SpecError: a value the catalog pipeline's steps would reject.
    """
    from vtp import params

    pipeline = load_pipeline(template)
    declared = params.declared_inputs(pipeline)
    values = params.resolve(
        pipeline,
        assignments=assignments,
        file_values=file_values,
        fallbacks={"project": where.project, "location": where.location},
    )
    for name, own in (("project", where.project), ("location", where.location)):
        if name in declared and name not in values and declared[name].type == "String":
            values[name] = own
    from vtp.check.values import check_values

    effective = params.effective(pipeline, values)
    check_values({n: s.type for n, s in declared.items()}, effective, local=False)
    _catalog_checks(template.pipeline_name, effective)
    return values


def _catalog_checks(pipeline_name: str, values: dict[str, Any]) -> None:
    from vtp import catalog

    if pipeline_name not in catalog.PIPELINES:
        return
    module = catalog.pipeline_module(pipeline_name)
    check = getattr(module, "check_params", None)
    if check is None:
        return
    try:
        check(values)
    except KeyError:
        return  # another pipeline under the same name: its inputs differ from ours


def new_job_id(pipeline_name: str, now: datetime | None = None) -> str:
    """`<pipeline>-<UTC yyyymmddhhmmss>-<6 hex>`, unique even for runs in the same second."""
    stem = re.sub("[^-0-9a-z]+", "-", pipeline_name.lower()).strip("-") or "pipeline"
    if not stem[0].isalpha():
        stem = "p-" + stem
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return f"{stem[:105]}-{stamp}-{secrets.token_hex(3)}"


def build_job(
    template: ResolvedTemplate, values: Mapping[str, Any], options: RunOptions, where: Target
):
    """The SDK's `PipelineJob` for this run (nothing sent yet; `vertex_client.init` first).

    A template from a registry carries `template_uri` and `template_metadata.version`, as a
    run created from Artifact Registry does.
    """
    from google.cloud import aiplatform

    job = aiplatform.PipelineJob(
        display_name=options.display_name or template.pipeline_name,
        template_path=str(template.path),
        job_id=options.job_id or new_job_id(template.pipeline_name),
        pipeline_root=options.pipeline_root,
        parameter_values=dict(values),
        enable_caching=options.enable_caching,
        labels=dict(options.labels) or None,
        project=where.project,
        location=where.location,
        failure_policy=options.failure_policy,
    )
    if template.template_uri:
        job._gca_resource.template_uri = template.template_uri  # not created yet
        if template.version_name:
            job._gca_resource.template_metadata.version = template.version_name
    return job


def console_url(resource_name: str) -> str:
    """The Cloud console page of a pipeline run."""
    parts = resource_name.split("/")
    project, location, run = parts[1], parts[3], parts[5]
    return (
        f"https://console.cloud.google.com/vertex-ai/locations/{location}/pipelines/runs/"
        f"{run}?project={project}"
    )
