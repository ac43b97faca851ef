"""`python -m vtp.serving.model_server`: the SDK's model server (`CprModelServer`: FastAPI
under uvicorn, routes from AIP_HEALTH_ROUTE / AIP_PREDICT_ROUTE, port AIP_HTTP_PORT, model from
AIP_STORAGE_URI copied into the working directory), bound to `VTP_SERVE_HOST` (loopback by
default) instead of the container's 0.0.0.0, with one worker."""

from __future__ import annotations

import os

HOST_ENV = "VTP_SERVE_HOST"


def main() -> None:
    import uvicorn

    uvicorn.run(
        "google.cloud.aiplatform.prediction.model_server:CprModelServer",
        factory=True,
        host=os.environ.get(HOST_ENV, "127.0.0.1"),
        port=int(os.environ["AIP_HTTP_PORT"]),
        workers=1,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
