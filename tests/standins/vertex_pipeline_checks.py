"""What the Vertex AI stand-in checks in a PipelineJob to create: the spec, the runtime
config against the spec's inputs, labels, display name, service account, network, KMS key."""

from __future__ import annotations

import math
import re
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format

from standins.vertex_errors import invalid

JOB_ID = re.compile(r"^[a-z][-a-z0-9]{0,127}$")
PIPELINE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
GCS_DIR = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$")
SERVICE_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9._+-]*@([a-z0-9-]+\.)*gserviceaccount\.com$")
NETWORK = re.compile(r"^projects/(\d+)/global/networks/([a-z]([-a-z0-9]{0,61}[a-z0-9])?)$")
IP_RANGE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
KMS_KEY = re.compile(r"^projects/([^/]+)/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
LABEL_KEY = re.compile(r"^[^\W\dA-Z_][\w-]{0,63}$")  # starts with a lowercase letter
LABEL_VALUE = re.compile(r"^[\w-]{0,64}$")
BILLING_LABEL = "vertex-ai-pipelines-run-billing-id"


def spec_dict(job: aiplatform_v1.PipelineJob) -> dict[str, Any]:
    pb = aiplatform_v1.PipelineJob.pb(job)
    return json_format.MessageToDict(pb.pipeline_spec) if pb.HasField("pipeline_spec") else {}


def _runtime_config(job: aiplatform_v1.PipelineJob) -> dict[str, Any]:
    pb = aiplatform_v1.PipelineJob.pb(job)
    return json_format.MessageToDict(pb.runtime_config, preserving_proto_field_name=True)


def check_labels(labels: dict[str, str], where: str) -> None:
    if len(labels) > 64:
        raise invalid(where, f"{len(labels)} labels", "must have at most 64 labels")
    for key, value in labels.items():
        if not LABEL_KEY.match(key):
            raise invalid(
                f"{where} key",
                key,
                "must be 1-64 characters of lowercase letters, digits, '_' and '-', "
                "starting with a lowercase letter",
            )
        if not LABEL_VALUE.match(value) or value != value.lower():
            raise invalid(
                f"{where}[{key!r}]",
                value,
                "must be at most 64 characters of lowercase letters, digits, '_' and '-'",
            )


def _check_spec(spec: dict[str, Any], where: str) -> None:
    name = spec.get("pipelineInfo", {}).get("name")
    if not isinstance(name, str) or not PIPELINE_NAME.match(name):
        raise invalid(
            f"{where}.pipelineInfo.name",
            name,
            "must be 1-128 characters of lowercase letters, digits and '-'",
        )
    if not spec.get("schemaVersion"):
        raise invalid(f"{where}.schemaVersion", None, "is required (e.g. '2.1.0')")
    if not isinstance(spec.get("root", {}).get("dag"), dict):
        raise invalid(f"{where}.root.dag", spec.get("root"), "is required: the pipeline's DAG")
    components = spec.get("components", {})
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    dags = [("root", spec["root"]), *components.items()]
    for owner, component in dags:
        for task_name, task in component.get("dag", {}).get("tasks", {}).items():
            ref = task.get("componentRef", {}).get("name")
            if ref not in components:
                raise invalid(
                    f"{where}.{owner}.dag.tasks[{task_name!r}].componentRef.name",
                    ref,
                    "must name one of the spec's components",
                )
        label = component.get("executorLabel")
        if label is not None and label not in executors:
            raise invalid(
                f"{where}.components[{owner!r}].executorLabel",
                label,
                "must name one of deploymentSpec.executors",
            )


_PARAMETER_TYPES = {
    "STRING": (lambda v: isinstance(v, str), "a string"),
    "NUMBER_INTEGER": (
        lambda v: (
            isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and float(v).is_integer()
        ),
        "an integer",
    ),
    "NUMBER_DOUBLE": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "BOOLEAN": (lambda v: isinstance(v, bool), "a boolean"),
    "LIST": (lambda v: isinstance(v, list), "a list"),
    "STRUCT": (lambda v: isinstance(v, dict), "a struct (JSON object)"),
}


def _check_runtime_config(job: aiplatform_v1.PipelineJob, spec: dict[str, Any], where: str) -> None:
    config = _runtime_config(job)
    root = f"{where}.runtime_config"
    output = config.get("gcs_output_directory", "")
    if not output and not spec.get("defaultPipelineRoot"):
        raise invalid(
            f"{root}.gcs_output_directory",
            output,
            "is required (the pipeline root) when the spec has no defaultPipelineRoot",
        )
    if output and not GCS_DIR.match(output):
        raise invalid(f"{root}.gcs_output_directory", output, "must be a gs://BUCKET/... URI")
    inputs = spec.get("root", {}).get("inputDefinitions", {})
    declared = inputs.get("parameters", {})
    values = config.get("parameter_values", {})
    if config.get("parameters"):
        if str(spec.get("schemaVersion", "")) >= "2.1.0":
            raise invalid(
                f"{root}.parameters",
                sorted(config["parameters"]),
                f"is for pipeline schema 2.0.0 and lower; this spec is "
                f"{spec.get('schemaVersion')}: use parameter_values",
            )
        values = {**values, **{k: None for k in config["parameters"]}}
    for name, value in values.items():
        if name not in declared:
            allowed = ", ".join(sorted(declared)) or "none"
            raise invalid(
                f"{root}.parameter_values[{name!r}]",
                value,
                f"is not an input of the pipeline (its parameters: {allowed})",
            )
        kind = declared[name].get("parameterType", "")
        check = _PARAMETER_TYPES.get(kind)
        if value is not None and check and not check[0](value):
            raise invalid(
                f"{root}.parameter_values[{name!r}]",
                value,
                f"must be {check[1]} (the pipeline declares it {kind})",
            )
    for name, definition in declared.items():
        required = "defaultValue" not in definition and not definition.get("isOptional")
        if required and name not in values:
            raise invalid(
                f"{root}.parameter_values",
                sorted(values),
                f"must give the pipeline's required parameter {name!r} (it has no default)",
            )
    artifacts = inputs.get("artifacts", {})
    for name in config.get("input_artifacts", {}):
        if name not in artifacts:
            raise invalid(
                f"{root}.input_artifacts[{name!r}]",
                name,
                f"is not an input artifact of the pipeline ({', '.join(artifacts) or 'none'})",
            )


def validate_job(
    job: aiplatform_v1.PipelineJob,
    *,
    project: str,
    location: str,
    project_ids: set[str],
    where: str,
) -> dict[str, Any]:
    """Checks a PipelineJob to create (`where` prefixes field names) and returns its spec.

    Raises:
        ApiError: 400 naming the field, the value and what is allowed.
    """
    if len(job.display_name) > 128:
        raise invalid(
            f"{where}.display_name",
            job.display_name[:40] + "...",
            f"must be at most 128 characters (it has {len(job.display_name)})",
        )
    spec = spec_dict(job)
    if not spec:
        reason = "is required"
        if job.template_uri:
            reason += " (the stand-in does not fetch template_uri)"
        raise invalid(f"{where}.pipeline_spec", None, reason)
    _check_spec(spec, f"{where}.pipeline_spec")
    _check_runtime_config(job, spec, where)
    check_labels(dict(job.labels), f"{where}.labels")
    if job.service_account and not SERVICE_ACCOUNT.match(job.service_account):
        raise invalid(
            f"{where}.service_account",
            job.service_account,
            "must be a service account email (NAME@PROJECT.iam.gserviceaccount.com)",
        )
    if job.network:
        match = NETWORK.match(job.network)
        if not match:
            raise invalid(
                f"{where}.network",
                job.network,
                "must be projects/PROJECT_NUMBER/global/networks/NETWORK",
            )
        if match[1] not in project_ids:
            raise invalid(
                f"{where}.network",
                job.network,
                f"must name a network of project {project} by its number",
            )
    for i, name in enumerate(job.reserved_ip_ranges):
        if not IP_RANGE.match(name):
            raise invalid(f"{where}.reserved_ip_ranges[{i}]", name, "must be an IP range name")
    key = job.encryption_spec.kms_key_name
    if key:
        match = KMS_KEY.match(key)
        if not match:
            raise invalid(
                f"{where}.encryption_spec.kms_key_name",
                key,
                "must be projects/P/locations/L/keyRings/R/cryptoKeys/K",
            )
        if match[2] != location:
            raise invalid(
                f"{where}.encryption_spec.kms_key_name",
                key,
                f"must be a key in the job's location {location}",
            )
    return spec
