"""`resolve_template`: catalog names, compiled YAML files and registry template URLs.

Registry cases drive kfp's real `RegistryClient` against the loopback Artifact Registry
stand-in (`tests/standins/artifact_registry.py`); nothing reaches Google.
"""

import hashlib
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
from standins.artifact_registry import ArtifactRegistryStandIn

from vtp import catalog
from vtp.cloud import publish
from vtp.cloud.templates import (
    RegistryRequestError,
    ResolvedTemplate,
    TemplateNotFound,
    resolve_template,
)
from vtp.errors import SpecError, VtpError

REPO = Path(__file__).resolve().parents[1]
COMPILED = REPO / "compiled" / "pipelines"
PROJECT, REPOSITORY = "my-project", "pipelines"


@pytest.fixture
def registry(shippable):
    """The Artifact Registry stand-in, used from the `shippable` project."""
    with ArtifactRegistryStandIn() as standin:
        yield standin


@pytest.fixture
def host(registry) -> str:
    return registry.host_for(PROJECT, REPOSITORY)


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def published(host: str, *refs: str, tags=("0.1.0", "latest")) -> list[publish.Published]:
    return list(publish.publish(publish.prepare(refs), host, list(tags)))


@pytest.mark.parametrize("name", ["training", "tuning"])
def test_catalog_name_resolves_to_your_compiled_yaml_else_the_shipped_template(name, shippable):
    assert resolve_template(name, compiled=shippable) == ResolvedTemplate(
        path=shippable / "pipelines" / f"{name}.yaml",
        template_uri=None,
        version_name=None,
        pipeline_name=name,
    )
    for compiled in (None, shippable.parent / "nothing-here"):
        assert resolve_template(name, compiled=compiled).path == COMPILED / f"{name}.yaml"


def test_path_resolves_to_that_file(tmp_path, monkeypatch, shippable):
    copy = tmp_path / "mine.yaml"
    shutil.copy(shippable / "pipelines" / "training.yaml", copy)
    monkeypatch.chdir(tmp_path)
    resolved = resolve_template("mine.yaml")
    assert resolved.path == copy.resolve()
    assert (resolved.template_uri, resolved.version_name) == (None, None)
    assert resolved.pipeline_name == "training"


KNOWN = ", ".join(sorted(catalog.PIPELINES))


@pytest.mark.parametrize(
    "ref, error, message",
    [
        ("trainin", TemplateNotFound, f"unknown pipeline 'trainin'; known: {KNOWN} (or"),
        ("missing/x.yaml", TemplateNotFound, "template 'missing/x.yaml': not found;"),
        ("gs://bucket/x.yaml", TemplateNotFound, "http(s)://HOST/.../PACKAGE/TAG"),
        ("", SpecError, "template must be a pipeline name"),
    ],
)
def test_unknown_names_and_missing_files_are_clear_errors(ref, error, message):
    with pytest.raises(error) as raised:
        resolve_template(ref)
    assert message in str(raised.value)


def test_a_directory_or_a_yaml_that_is_not_a_pipeline_is_refused(tmp_path):
    with pytest.raises(TemplateNotFound, match="is not a file"):
        resolve_template(str(tmp_path))
    other = tmp_path / "component.yaml"
    other.write_text("name: x\n")
    with pytest.raises(VtpError, match=r"is not a compiled KFP pipeline \(no pipelineInfo.name\)"):
        resolve_template(str(other))
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    with pytest.raises(VtpError, match="is not YAML"):
        resolve_template(str(broken))


@pytest.mark.parametrize(
    "suffix, field",
    [
        ("/training", "template URL must end in /PACKAGE/TAG"),
        ("/training/sha256:abc", "template URL version must be sha256: and 64 hex digits"),
        ("/training/bad%2Ftag", "template URL tag must be one or more of"),
        ("/Training/latest", "template URL package must match"),
        ("/training/latest?x=1", "template URL must look like"),
    ],
)
def test_malformed_urls_fail_before_any_request(registry, suffix, field):
    """Against the stand-in: a malformed URL is refused before RegistryClient sends anything."""
    base = f"{registry.url}/{PROJECT}/{REPOSITORY}" if suffix != "/training" else registry.url
    with pytest.raises(SpecError, match=field.replace("(", r"\(").replace(")", r"\)")):
        resolve_template(base + suffix)
    assert registry.requests == []


def test_artifact_registry_urls_need_project_repository_package_and_tag():
    with pytest.raises(SpecError, match="on Artifact Registry must be https://LOCATION-kfp"):
        resolve_template("https://us-central1-kfp.pkg.dev/my-project/training/latest")


def test_tag_url_downloads_a_byte_identical_file_and_names_its_version(host, tmp_path, shippable):
    """Real RegistryClient against the stand-in: `.../training/latest` resolves the tag to its
    sha256 version, downloads that version into work_dir byte for byte, and reports the URL
    and the version as Vertex records them (template_uri, template_metadata.version)."""
    published(host, "training", "tuning")
    for name in ("training", "tuning"):
        url = f"{host}/{name}/latest"
        resolved = resolve_template(url, work_dir=tmp_path / "work")
        compiled = shippable / "pipelines" / f"{name}.yaml"
        assert resolved.path.read_bytes() == compiled.read_bytes()
        assert resolved.path.parent == tmp_path / "work"
        assert resolved.template_uri == url
        assert resolved.version_name == sha256(compiled)
        assert resolved.pipeline_name == name


def test_sha256_url_resolves_that_exact_version(host, tmp_path, shippable):
    """Real RegistryClient against the stand-in: a `sha256:` URL downloads that version, also
    after `latest` moved to another one."""
    [first] = published(host, "training")
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        (shippable / "pipelines" / "training.yaml").read_text().replace("good enough.", "fine.")
    )
    [second] = published(host, str(changed))
    assert second.version != first.version

    old = resolve_template(f"{host}/training/{first.version}", work_dir=tmp_path)
    assert old.path.read_bytes() == (shippable / "pipelines" / "training.yaml").read_bytes()
    assert old.version_name == first.version
    latest = resolve_template(f"{host}/training/latest/", work_dir=tmp_path)
    assert latest.path.read_bytes() == changed.read_bytes()
    assert (latest.version_name, latest.template_uri) == (second.version, f"{host}/training/latest")


def test_unknown_tag_package_version_and_repository_name_what_exists(registry, host):
    """Real RegistryClient against the stand-in: each 404 becomes a TemplateNotFound naming
    the missing tag, package, version or repository and what the registry holds instead."""
    published(host, "training", "tuning", tags=("0.1.0", "latest", "stable"))
    cases = [
        (f"{host}/training/nope", "tag 'nope' not found in template package 'training' at "),
        (f"{host}/training/nope", "; tags: 0.1.0, latest, stable"),
        (f"{host}/scoring/latest", "package 'scoring' not found at "),
        (f"{host}/scoring/latest", "; packages: training, tuning"),
        (f"{host}/training/sha256:{'0' * 64}", f"version sha256:{'0' * 64} not found"),
        (f"{registry.url}/{PROJECT}/other/training/latest", "no template repository at "),
    ]
    for url, message in cases:
        with pytest.raises(TemplateNotFound) as raised:
            resolve_template(url)
        assert message in str(raised.value)


def test_default_work_dir_is_a_fresh_temporary_directory(host, tmp_path, monkeypatch):
    """Real RegistryClient against the stand-in: without work_dir the file lands in a new
    temporary directory of its own and stays there after the call; a failed resolution
    leaves no directory behind. (The temporary root is pointed at tmp_path.)"""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    published(host, "training")
    first = resolve_template(f"{host}/training/0.1.0")
    second = resolve_template(f"{host}/training/0.1.0")
    assert first.path.is_file() and second.path.is_file()
    assert first.path.parent != second.path.parent
    assert {first.path.parent, second.path.parent} == set(tmp_path.glob("vtp-template-*"))
    with pytest.raises(TemplateNotFound):
        resolve_template(f"{host}/training/sha256:{'0' * 64}")
    assert len(list(tmp_path.glob("vtp-template-*"))) == 2


def test_an_unreachable_registry_is_a_registry_request_error():
    """Real RegistryClient towards a loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/p/r/training/latest"
    with pytest.raises(RegistryRequestError, match=r"cannot reach the registry at .*Errno 111"):
        resolve_template(url)
