"""The LOCAL variant of a custom-job step: GCPC's interface, the wrapped component's container.

It is GCPC's component with its executor and some defaults changed: the executor runs the
wrapped component's own command (through `components.custom_jobs.local_step`) instead of
GCPC's launcher, and defaults kfp.local cannot resolve (`{{$.pipeline_google_cloud_project_id}}`
..., the `{{$.json_escape[1]}}` inside `worker_pool_specs`) become local values, as in the
twins. Inputs and outputs are otherwise GCPC's, so a pipeline that calls the
step with `project=...`, `location=...` or reads `gcp_resources` builds for both targets.
"""

from __future__ import annotations

import json
import warnings

from vtp import defaults as config
from vtp.components.custom_jobs.request import CustomJobRequest, container_of
from vtp.errors import SpecError

#: Input defaults kfp.local cannot resolve, and what the LOCAL variant uses instead.
LOCAL_DEFAULTS = {
    "project": config.LOCAL_PROJECT,
    "location": config.DEFAULT_LOCATION,
    "persistent_resource_id": "",
}
#: Runs before the component's own command; `python3` becomes this interpreter locally.
LAUNCHER = ["python3", "-m", "vtp.components.custom_jobs.local_step", "--"]
#: GCPC writes the executor input placeholder of the payload this way; kfp.local refuses any
#: `{{$.json_escape...}}` text, also inside an input's value, so the LOCAL default has `{{$}}`.
JSON_ESCAPED_EXECUTOR_INPUT = "{{$.json_escape[1]}}"
#: Only lightweight Python components run under kfp.local's SubprocessRunner.
EXECUTOR_MODULE = "kfp.dsl.executor_main"

_notified: set[str] = set()


class LocalRunNotice(UserWarning):
    """A LOCAL custom-job step asks for replicas or GPUs that the local run does not give."""


def local_variant(vertex, component_spec, request: CustomJobRequest):
    """The LOCAL component for `component_spec`, from GCPC's (`vertex`) wrapped one.

    Raises:
        SpecError: the wrapped component is not a lightweight Python component.
    """
    import yaml
    from google.protobuf import json_format
    from kfp import components

    container = container_of(component_spec)
    command = [*container.get("command", []), *container.get("args", [])]
    if not any(EXECUTOR_MODULE in part for part in command):
        raise SpecError(
            "component_spec",
            request.component_name,
            "must be a lightweight Python component (@dsl.component) on the LOCAL target: "
            "kfp.local's SubprocessRunner runs no other kind",
        )
    ir = json_format.MessageToDict(vertex.pipeline_spec)
    interfaces = [*ir["components"].values(), ir["root"]]
    for interface in interfaces:
        parameters = interface["inputDefinitions"]["parameters"]
        for name, value in LOCAL_DEFAULTS.items():
            parameters[name]["defaultValue"] = value
        pools = parameters["worker_pool_specs"]
        pools["defaultValue"] = json.loads(
            json.dumps(pools["defaultValue"]).replace(JSON_ESCAPED_EXECUTOR_INPUT, "{{$}}")
        )
    executor = next(iter(ir["deploymentSpec"]["executors"].values()))
    executor["container"] = {
        "image": container["image"],
        "command": [*LAUNCHER, *container.get("command", [])],
        "args": list(container.get("args", [])),
    }
    local = components.load_component_from_text(yaml.safe_dump(ir))
    local.component_spec.name = vertex.component_spec.name
    local.description = vertex.description
    _notify_once(request)
    return local


def _notify_once(request: CustomJobRequest) -> None:
    """Warns (once per process and message) when the job asks for what a local run lacks."""
    from vtp.components.custom_jobs.local_step import resource_notice
    from vtp.local._pools import parse_pools

    notice = resource_notice(parse_pools(request.worker_pool_specs), request.display_name)
    if notice and notice not in _notified:
        _notified.add(notice)
        warnings.warn(notice, LocalRunNotice, stacklevel=4)
