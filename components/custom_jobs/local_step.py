"""Runs a LOCAL custom-job step: `python -m components.custom_jobs.local_step -- COMMAND...`.

COMMAND is the wrapped component's own command and arguments (kfp's executor, with
`--executor_input`). Before handing over to it (exec, same process), the step reads its
custom job inputs from the executor input and:

- checks `worker_pool_specs` as the custom-job twin does (a payload given at run time too);
- prints a notice when the job asks for replicas or GPUs that one local process does not give;
- writes `gcp_resources` as `{"resources": []}`: no Vertex resource exists;
- sets the environment Vertex gives the primary replica: the pool's `env`, `CLUSTER_SPEC`
  (one replica), `AIP_MODEL_DIR` / `AIP_CHECKPOINT_DIR` / `AIP_TENSORBOARD_LOG_DIR` under
  `base_output_directory` (on the local Cloud Storage mount), GPUs hidden unless the pool
  asks for them and `CUDA_VISIBLE_DEVICES` is set.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from vtp.errors import VtpError
from vtp.gcs import GCS_ROOT_ENV
from vtp.home import HOME_ENV, local_gcs_root, vtp_home
from vtp.local._pools import Pool, parse_pools, snake_keys
from vtp.local.replica_env import output_dirs, plan_replicas, replica_env

NO_RESOURCES = json.dumps({"resources": []})


def resource_notice(pools: Sequence[Pool], display_name: str) -> str | None:
    """What the job asks Vertex for that a local run does not give, or None."""
    replicas = sum(p.replica_count for p in pools)
    asks = []
    if replicas > 1:
        asks.append(f"{replicas} replicas")
    gpus = [p for p in pools if p.has_accelerator]
    if gpus:
        asks.append(f"{gpus[0].accelerator_type} x {gpus[0].accelerator_count} per replica")
    if not asks:
        return None
    return (
        f"custom job step {display_name!r} asks Vertex for {' with '.join(asks)}; the LOCAL "
        "target runs the component once, as one process on this machine (GPUs only through "
        "CUDA_VISIBLE_DEVICES)"
    )


def primary_env(
    pools: Sequence[Pool], parameters: Mapping, environ: Mapping[str, str]
) -> dict[str, str]:
    """The environment of replica workerpool0-0, alone in its cluster; `CLUSTER_SPEC["job"]`
    is the whole job as asked."""
    primary = dataclasses.replace(pools[0], replica_count=1)
    replicas = plan_replicas([primary])
    root = environ.get(GCS_ROOT_ENV) or str(local_gcs_root(vtp_home(environ.get(HOME_ENV))))
    base = str(parameters.get("base_output_directory") or "")
    dirs = output_dirs(base, root, None)
    for path in dirs.paths.values():
        Path(path).mkdir(parents=True, exist_ok=True)
    job_spec: dict[str, object] = {
        "worker_pool_specs": snake_keys(parameters["worker_pool_specs"]),
        "scheduling": {"timeout": parameters.get("timeout", "604800s")},
    }
    if base:
        job_spec["base_output_directory"] = {"output_uri_prefix": base}
    return replica_env(
        replicas[0], replicas, job_spec=job_spec, gcs_root=root, dirs=dirs, environ=environ
    )


def prepare(command: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """Everything before the hand-over; returns the environment for `command`.

    Raises:
        VtpError: the executor input is missing or its `worker_pool_specs` are invalid.
    """
    if "--executor_input" not in command[:-1]:
        raise VtpError("local custom job step: the command has no --executor_input")
    executor_input = json.loads(command[command.index("--executor_input") + 1])
    parameters = executor_input.get("inputs", {}).get("parameterValues", {})
    pools = parse_pools(parameters.get("worker_pool_specs") or [])
    notice = resource_notice(pools, str(parameters.get("display_name", "")))
    if notice:
        print(f"notice: {notice}", flush=True)
    output = executor_input.get("outputs", {}).get("parameters", {}).get("gcp_resources", {})
    if output.get("outputFile"):
        path = Path(output["outputFile"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(NO_RESOURCES)
    return primary_env(pools, parameters, environ)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[args.index("--") + 1 :] if "--" in args else args
    if not command:
        print("usage: python -m components.custom_jobs.local_step -- COMMAND...", file=sys.stderr)
        return 2
    try:
        env = prepare(command, os.environ)
    except VtpError as err:
        print(f"vtp: error: {err}", file=sys.stderr, flush=True)
        return 1
    sys.stdout.flush()
    os.execvpe(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
