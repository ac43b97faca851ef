# The image vtp's Python components run in on Vertex AI Pipelines: kfp, GCPC and this package,
# installed with the exact pins of pyproject.toml. Build and push it with
#   vtp image push components --registry REGION-docker.pkg.dev/PROJECT/REPO
# (or from the repository root: docker build -t .../vtp-components:VERSION .)
# and compile against it: set `registry` in the configuration (vtp config), then vtp compile
# Same Python as the trainer images: evaluate_model unpickles the trainer's model.joblib.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/vtp
COPY pyproject.toml README.md ./
COPY vtp ./vtp
COPY components ./components
COPY pipelines ./pipelines
COPY compiled ./compiled
COPY data ./data
COPY trainers ./trainers
RUN pip install .
