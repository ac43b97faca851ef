"""Fixtures shared by the whole suite.

Markers (see pyproject.toml): `slow` marks end-to-end runs (whole pipelines, many processes,
server processes such as the storage emulator: tests using `vertex` are marked here);
`pytest -m "not slow"` runs the fast unit tests alone. Every test has a timeout
(pytest-timeout, `timeout` in pyproject.toml; a test may set its own with
`@pytest.mark.timeout(N)`).

Nothing here reaches Google: the Vertex AI and Cloud Storage fixtures are loopback stand-ins
(`tests/standins/`) driven through the real client libraries.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Two test workers share two cores: trainer and library processes started by tests use one
# thread each. Set at import, so every subprocess of every test inherits it.
os.environ["OMP_NUM_THREADS"] = "1"

#: Variables of the user's environment that would point vtp somewhere else than a test wants.
_VTP_ENVIRONMENT = ("GOOGLE_CLOUD_PROJECT", "VTP_LOCATION", "VTP_VERTEX_ENDPOINT")
#: The configuration's variables (`vtp config`), besides those above and `VTP_HOME`.
_CONFIG_ENVIRONMENT = (
    "VTP_CONFIG",
    "VTP_PIPELINE_ROOT",
    "VTP_SERVICE_ACCOUNT",
    "VTP_REGISTRY",
    "VTP_REPOSITORY",
    "VTP_COMPILED",
    "VTP_COMPONENT_IMAGE",
    "VTP_TRAINER_IMAGES",
)


#: Fixtures that start a server process: a test that uses one is `slow`.
_SERVER_FIXTURES = ("vertex", "gcs_bucket")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks `slow` every test that starts the storage emulator (a server process)."""
    for item in items:
        if set(_SERVER_FIXTURES) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


#: Variables `vtp` sets in its own process for the processes it starts (`vtp run` exports the
#: home and the configuration file it found): restored after every test.
_EXPORTED = ("VTP_HOME", "VTP_GCS_ROOT", "VTP_CONFIG")


@pytest.fixture(autouse=True)
def _restore_exported_environment() -> Iterator[None]:
    before = {name: os.environ.get(name) for name in _EXPORTED}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh vtp home (`$VTP_HOME`) for the test."""
    root = tmp_path / "vtp-home"
    monkeypatch.setenv("VTP_HOME", str(root))
    return root


#: The Artifact Registry Docker repository the `shippable` project pushes vtp's images to.
REGISTRY = "us-central1-docker.pkg.dev/p/images"


@pytest.fixture(scope="session")
def shippable_compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vtp's pipelines and components compiled for `REGISTRY` (its component and trainer
    images), as `vtp compile` writes them in a project configured with that registry."""
    from vtp import config
    from vtp.compiler import compile_all

    images = config.load(flags={"registry": REGISTRY}, environ={}).images()
    out = tmp_path_factory.mktemp("shippable") / "compiled"
    compile_all(out, images=images)
    return out


@pytest.fixture
def shippable(shippable_compiled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project configured for `REGISTRY` (`$VTP_CONFIG` names its vtp.toml), whose compiled
    pipelines (`shippable_compiled`, returned) are what vtp submits, schedules and publishes."""
    for name in _CONFIG_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    file = tmp_path / "vtp.toml"
    file.write_text(f'registry = "{REGISTRY}"\ncompiled = "{shippable_compiled}"\n')
    monkeypatch.setenv("VTP_CONFIG", str(file))
    return shippable_compiled


@pytest.fixture
def vertex_api(monkeypatch: pytest.MonkeyPatch, shippable: Path) -> Iterator:
    """The Vertex AI REST stand-in on loopback (project `p`, `us-central1`), `vtp` pointed at
    it through `VTP_VERTEX_ENDPOINT`, in the `shippable` project. It records every request it
    decodes."""
    from standins.vertex_api import VertexStandIn

    for name in _VTP_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    with VertexStandIn(project="p", location="us-central1") as standin:
        monkeypatch.setenv("VTP_VERTEX_ENDPOINT", standin.endpoint)
        yield standin


@pytest.fixture
def vertex(vertex_api) -> Iterator:
    """`vertex_api` plus the real gcp-storage-emulator as Cloud Storage (`vertex.gcs`): what
    `vtp submit` needs, since the SDK checks the pipeline-root bucket."""
    from standins.gcs import gcs_emulator

    with gcs_emulator() as gcs:
        vertex_api.gcs = gcs
        yield vertex_api


@pytest.fixture
def vtp_cli():
    """Runs `python -m vtp ARGS --home HOME` as a real subprocess (`support.cli.run_vtp`)."""
    from support.cli import run_vtp

    return run_vtp
