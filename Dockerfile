# The image vtp's Python components run in on Vertex AI Pipelines: kfp, GCPC and this package.
# Build from the repository root:
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/vtp-components:0.1.0 .
# and compile against it: vtp compile --component-image REGION-docker.pkg.dev/...:0.1.0
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /opt/vtp
COPY pyproject.toml README.md ./
COPY components ./components
COPY pipelines ./pipelines
COPY trainer ./trainer
RUN pip install --upgrade pip && pip install .
