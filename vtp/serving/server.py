"""`vtp models serve`: a registered model behind Vertex's custom-container prediction contract.

The server process gets the environment Vertex gives a serving container: `AIP_HTTP_PORT`,
`AIP_PREDICT_ROUTE`, `AIP_HEALTH_ROUTE` (the model's own routes and port when its container
spec names them, else Vertex's defaults for an endpoint `local`), `AIP_STORAGE_URI` (the model
directory, which the SDK's predictor copies into the server's working directory, as it
downloads it on Vertex), and the SDK's handler and vtp's checked predictor for the framework.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vtp.errors import VtpError
from vtp.serving.models import ServableModel

#: Vertex's default port for a serving container (`AIP_HTTP_PORT`).
DEFAULT_PORT = 8080
ENDPOINT_ID = "local"
HANDLER = ("google.cloud.aiplatform.prediction.handler", "PredictionHandler")
READY_TIMEOUT = 120.0


class ServerFailed(VtpError):
    """The model server exited or never became healthy."""


@dataclass(frozen=True)
class Routes:
    port: int
    predict: str
    health: str


def routes(model: ServableModel, container_spec: dict, port: int | None) -> Routes:
    """The port and routes Vertex would give this model's container."""
    deployed = f"/v1/endpoints/{ENDPOINT_ID}/deployedModels/{model.resource_name.split('/')[-1]}"
    deployed = deployed.split("@")[0]
    ports = container_spec.get("ports") or []
    spec_port = ports[0].get("containerPort") if ports and isinstance(ports[0], dict) else None
    return Routes(
        port=port if port is not None else int(spec_port or DEFAULT_PORT),
        predict=container_spec.get("predictRoute") or f"{deployed}:predict",
        health=container_spec.get("healthRoute") or deployed,
    )


def server_env(model: ServableModel, r: Routes, host: str) -> dict[str, str]:
    module, cls = model.framework.predictor.split(":")
    return {
        **os.environ,
        "AIP_HTTP_PORT": str(r.port),
        "AIP_PREDICT_ROUTE": r.predict,
        "AIP_HEALTH_ROUTE": r.health,
        "AIP_STORAGE_URI": str(model.model_dir),
        "HANDLER_MODULE": HANDLER[0],
        "HANDLER_CLASS": HANDLER[1],
        "PREDICTOR_MODULE": module,
        "PREDICTOR_CLASS": cls,
        "VTP_SERVE_HOST": host,
        "PYTHONUNBUFFERED": "1",
    }


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the server as Ctrl-C does


def serve(
    model: ServableModel,
    r: Routes,
    *,
    host: str,
    work_root: Path,
    emit: Callable[[str], None],
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """Runs the model server until it exits or vtp is stopped; returns the server's exit
    code (SIGINT/SIGTERM to vtp stop it and raise KeyboardInterrupt)."""
    from vtp.local.replica_process import ReplicaProcess, stop_all

    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="serve-", dir=work_root))
    base = f"http://{host}:{r.port}"
    ready = False

    def echo(line: str) -> None:  # the server's own log, once it serves (a failed start is
        if ready:  # summed up in one line instead)
            emit(line)

    server = ReplicaProcess(
        "server",
        [sys.executable, "-m", "vtp.serving.model_server"],
        env=server_env(model, r, host),
        cwd=work,
        log_path=work / "server.log",
        emit=echo,
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _healthy(base + r.health):
            if server.poll() is not None:
                server.finish_output(5)
                last = next((line for line in reversed(server.tail()) if line.strip()), "")
                raise ServerFailed(
                    f"the model server exited before it was ready (exit code {server.poll()}): "
                    f"{last.strip()}"
                )
            if time.monotonic() > deadline:
                raise ServerFailed(f"the model server was not healthy after {READY_TIMEOUT:.0f} s")
            time.sleep(0.2)
        ready = True
        if on_ready is not None:
            on_ready(base)
        while server.poll() is None:
            time.sleep(0.2)
        return int(server.poll() or 0)
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_all([server], grace=5)
        server.finish_output(5)
        with contextlib.suppress(OSError):
            shutil.rmtree(work)


def example_request(model: ServableModel, base: str, r: Routes) -> str:
    """A curl line with one all-zero instance of the model's width (edit the values)."""
    width = _width(model)
    body = json.dumps({"instances": [[0] * width]}) if width else '{"instances": [[...]]}'
    return f"curl -s -X POST -H 'Content-Type: application/json' -d '{body}' {base}{r.predict}"


def _width(model: ServableModel) -> int | None:
    meta = model.model_dir / "model_metadata.json"
    with contextlib.suppress(OSError, ValueError, TypeError):
        features = json.loads(meta.read_text()).get("feature_names")
        if isinstance(features, list):
            return len(features)
    return None
