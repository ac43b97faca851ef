"""`vtp publish`: compiled pipelines to a KFP template registry, tagged; `vtp publish --list`.

Every test drives kfp's real `RegistryClient` (through `pipelines.cli.main`) against the
loopback Artifact Registry stand-in (`tests/standins/artifact_registry.py`); nothing reaches
Google.
"""

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from kfp.registry import RegistryClient
from kfp.registry.registry_client import DEFAULT_REGISTRY_CONTEXT
from standins.artifact_registry import ArtifactRegistryStandIn

from vtp import catalog, config
from vtp.cli.main import main

REPO = Path(__file__).resolve().parents[1]
PROJECT, REPOSITORY = "my-project", "pipelines"
VERSION_TAG = "0.1.0"


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


def changed_copy(tmp_path: Path, name: str = "training") -> Path:
    """A compiled pipeline (of the configured project) with other bytes but the same
    pipelineInfo.name."""
    compiled = Path(config.load().value("compiled")) / "pipelines"
    text = (compiled / f"{name}.yaml").read_text()
    copy = tmp_path / f"{name}-changed.yaml"
    copy.write_text(text.replace("upload if good enough.", "upload if good enough (v2)."))
    assert copy.read_bytes() != (compiled / f"{name}.yaml").read_bytes()
    return copy


def test_publish_uploads_every_compiled_pipeline_tagged_version_latest_and_extra_tags(
    registry, host, capsys, shippable
):
    """Real RegistryClient against the stand-in: both compiled pipelines become packages whose
    version is the sha256 of the YAML, tagged 0.1.0, latest and each --tag; the printed URLs
    download the published bytes; no credentials are sent to a non-Artifact-Registry host."""
    assert main(["publish", "--host", host, "--tag", "nightly", "--tag", "rc-1"]) == 0
    out = capsys.readouterr().out

    for name in ("training", "tuning"):
        path = shippable / "pipelines" / f"{name}.yaml"
        version = sha256(path)
        assert registry.versions(PROJECT, REPOSITORY, name) == [version]
        assert registry.tags(PROJECT, REPOSITORY, name) == {
            t: version for t in (VERSION_TAG, "latest", "nightly", "rc-1")
        }
        assert registry.content(PROJECT, REPOSITORY, name, version) == path.read_bytes()
        assert registry.description(PROJECT, REPOSITORY, name, version).startswith(
            f"The {name} pipeline:"
        )
        assert f"version    {version}" in out
        for ref in (VERSION_TAG, "latest", "nightly", "rc-1", version):
            url = f"{host}/{name}/{ref}"
            assert url in out
            assert requests.get(url, timeout=5).content == path.read_bytes()
    assert "0.1.0 (new), latest (new), nightly (new), rc-1 (new)" in out

    uploads = [r for r in registry.requests if r.method == "POST" and r.path.count("/") == 2]
    assert len(uploads) == len(list((shippable / "pipelines").glob("*.yaml")))
    assert all(b'name="tags"' in r.body and b"0.1.0,latest,nightly,rc-1" in r.body for r in uploads)
    assert not any("authorization" in r.headers for r in registry.requests)


def test_republishing_changed_content_moves_latest_and_keeps_the_old_version(
    registry, host, tmp_path, capsys, shippable
):
    """Real RegistryClient against the stand-in: a second publish of other bytes of the same
    pipeline adds a version and moves `latest` and the version tag with update_tag (PATCH),
    never create_tag on an existing tag; the old version stays downloadable by sha256."""
    assert main(["publish", "training", "--host", host]) == 0
    first = sha256(shippable / "pipelines" / "training.yaml")
    capsys.readouterr()
    registry.requests.clear()

    copy = changed_copy(tmp_path)
    assert main(["publish", str(copy), "--host", host, "--tag", "candidate"]) == 0
    second = sha256(copy)
    captured = capsys.readouterr()

    assert second != first
    assert registry.versions(PROJECT, REPOSITORY, "training") == [first, second]
    assert registry.tags(PROJECT, REPOSITORY, "training") == {
        VERSION_TAG: second,
        "latest": second,
        "candidate": second,
    }
    assert f"latest (moved from {first[:19]})" in captured.out
    assert "candidate (new)" in captured.out
    assert f"tag {VERSION_TAG} moved from {first}" in captured.err
    patches = sorted(r.path for r in registry.requests if r.method == "PATCH")
    assert patches == [
        f"/{PROJECT}/{REPOSITORY}/packages/training/tags/{VERSION_TAG}",
        f"/{PROJECT}/{REPOSITORY}/packages/training/tags/latest",
    ]
    assert not any(r.query.get("tagId") for r in registry.requests)
    old = requests.get(f"{host}/training/{first}", timeout=5).content
    assert old == (shippable / "pipelines" / "training.yaml").read_bytes()


def test_identical_content_publishes_the_same_sha256_version(
    registry, host, tmp_path, capsys, shippable
):
    """Real RegistryClient against the stand-in: publishing the same bytes again (also from
    another path) yields the same sha256 version, leaves every tag where it is and moves
    nothing."""
    assert main(["publish", "training", "--host", host]) == 0
    copy = tmp_path / "copy.yaml"
    copy.write_bytes((shippable / "pipelines" / "training.yaml").read_bytes())
    capsys.readouterr()
    registry.requests.clear()

    assert main(["publish", str(copy), "--host", host]) == 0
    out = capsys.readouterr().out

    version = sha256(shippable / "pipelines" / "training.yaml")
    assert registry.versions(PROJECT, REPOSITORY, "training") == [version]
    assert f"version    {version}" in out
    assert "0.1.0 (unchanged), latest (unchanged)" in out
    assert [r.method for r in registry.requests] == ["GET", "POST"]


@pytest.mark.parametrize("tag", ["bad/tag", "sha256:abc", "", "a,b", "two words", "naïve"])
def test_bad_tags_are_rejected_before_any_request(registry, host, capsys, tag):
    """Real CLI against the stand-in: a tag Artifact Registry or RegistryClient cannot carry
    stops the command with exit code 2, naming the tag and the allowed characters, and the
    registry receives no request at all."""
    assert main(["publish", "--host", host, "--tag", tag]) == 2
    err = capsys.readouterr().err
    assert "--tag must be one or more of A-Z a-z 0-9 - . _ ~ : @" in err
    assert f"got {tag!r}" in err
    assert registry.requests == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--description", "naïve model"], "--description must be printable ASCII"),
        (["nope"], f"unknown pipeline 'nope'; known: {', '.join(sorted(catalog.PIPELINES))}"),
        (["--project", "x"], "--host is the whole registry URL: drop --project"),
        (["--list", "--tag", "x"], "--list takes no --tag or --description"),
    ],
)
def test_bad_input_is_rejected_before_any_request(registry, host, capsys, argv, message):
    """Real CLI against the stand-in: bad options stop with exit code 2 and no request."""
    assert main(["publish", "--host", host, *argv]) == 2
    assert message in capsys.readouterr().err
    assert registry.requests == []


def test_a_yaml_that_is_not_a_pipeline_is_rejected_before_any_request(
    registry, host, tmp_path, capsys
):
    """Real CLI against the stand-in: a YAML without pipelineInfo.name, or with one that cannot
    name a registry package, is refused locally."""
    other = tmp_path / "component.yaml"
    other.write_text("name: not-a-pipeline\n")
    assert main(["publish", "training", str(other), "--host", host]) == 2
    assert f"{other} is not a compiled KFP pipeline (no pipelineInfo.name)" in (
        capsys.readouterr().err
    )
    upper = tmp_path / "upper.yaml"
    upper.write_text("pipelineInfo:\n  name: My_Pipeline\n")
    assert main(["publish", str(upper), "--host", host]) == 2
    assert f"pipelineInfo.name of {upper} must match ^[a-z0-9][a-z0-9-]{{0,127}}$, got " in (
        capsys.readouterr().err
    )
    assert registry.requests == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--project", "my-project"], "--repository is required"),
        (
            ["--repository", "pipelines"],
            "no project: pass --project PROJECT or set GOOGLE_CLOUD_PROJECT",
        ),
        (["--project", "My_Project", "--repository", "r"], "--project must be a project id"),
        (["--project", "my-project", "--repository", "Repo!"], "--repository must be a"),
        (["--project", "my-project", "--repository", "r", "--location", "us central"], "region"),
    ],
)
def test_artifact_registry_options_are_checked(monkeypatch, capsys, argv, message):
    """The Artifact Registry host is built from --project/--location/--repository, each checked
    before credentials or requests are involved (exit code 2)."""
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("VTP_LOCATION", raising=False)
    assert main(["publish", *argv]) == 2
    assert message in capsys.readouterr().err


def test_registry_errors_are_one_line_with_exit_code_1(registry, capsys):
    """Real RegistryClient against the stand-in: a repository that does not exist (404 with
    Google's error JSON) and a registry nobody listens on both end with exit code 1 and a
    single `vtp: error:` line naming the request and the registry's message."""
    missing = f"{registry.url}/{PROJECT}/missing"
    assert main(["publish", "training", "--host", missing]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == (
        f"vtp: error: registry request failed: POST {missing} -> 404 NOT_FOUND: Repository "
        f"'projects/{PROJECT}/locations/us-central1/repositories/missing' not found.\n"
    )

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/{PROJECT}/{REPOSITORY}"
    assert main(["publish", "training", "--host", closed]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"vtp: error: cannot reach the registry at {closed}: [Errno 111]")


def test_list_shows_packages_versions_newest_first_and_their_tags(
    registry, host, tmp_path, capsys, shippable
):
    """Real RegistryClient against the stand-in: `--list` shows every package, its versions
    newest first with their tags and descriptions; naming a package lists only it, and an
    unknown one is an error naming the packages there."""
    assert main(["publish", "--host", host]) == 0
    copy = changed_copy(tmp_path)
    assert main(["publish", str(copy), "--host", host, "--tag", "candidate"]) == 0
    capsys.readouterr()

    assert main(["publish", "--list", "--host", host]) == 0
    lines = capsys.readouterr().out.splitlines()
    first, second = sha256(shippable / "pipelines" / "training.yaml"), sha256(copy)
    assert lines[0] == f"pipeline templates at {host}"
    at = lines.index("training  (2 versions)")
    assert lines[at + 1].startswith(f"  {second}  ")
    assert lines[at + 1].endswith("tags: 0.1.0, candidate, latest")
    assert lines[at + 2] == (
        "    The training pipeline: load data, train as a custom job, evaluate, upload if "
        "good enough (v2)."
    )
    assert lines[at + 3].startswith(f"  {first}  ") and lines[at + 3].endswith("tags: -")
    packages = [line.split()[0] for line in lines[1:] if not line.startswith(" ")]
    assert packages == sorted(packages)
    assert "tuning  (1 version)" in lines

    assert main(["publish", "--list", "tuning", "--host", host]) == 0
    out = capsys.readouterr().out
    assert "tuning  (1 version)" in out and "training" not in out
    assert main(["publish", "--list", "nope", "--host", host]) == 2
    assert "package 'nope' not found" in capsys.readouterr().err

    empty = registry.host_for(PROJECT, "empty")
    assert main(["publish", "--list", "--host", empty]) == 0
    assert capsys.readouterr().out == f"no pipeline templates at {empty}\n"


@pytest.mark.slow  # a vtp process
def test_artifact_registry_without_credentials_fails_cleanly(tmp_path, shippable):
    """The real CLI in a process with no Google credentials (empty gcloud config, no metadata
    server: NO_GCE_CHECK, metadata host on a closed loopback port): publishing to the Artifact
    Registry host built from $GOOGLE_CLOUD_PROJECT, $VTP_LOCATION and --repository stops with
    exit code 1 and says how to log in, before any upload."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_"))
    }
    env.update(
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
        NO_GCE_CHECK="true",
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
        HOME=str(tmp_path),
        GOOGLE_CLOUD_PROJECT=PROJECT,
        VTP_LOCATION="europe-west4",
    )
    done = subprocess.run(
        [sys.executable, "-m", "vtp", "publish", "training", "--repository", REPOSITORY],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"vtp: error: no Google credentials for https://europe-west4-kfp.pkg.dev/{PROJECT}/"
        f"{REPOSITORY}: run `gcloud auth application-default login` or set "
        "GOOGLE_APPLICATION_CREDENTIALS\n"
    )
    assert done.stdout == ""


def test_standin_behaves_like_artifact_registry_for_registry_client(
    registry, host, tmp_path, shippable
):
    """kfp's real RegistryClient against the stand-in: a file that is not a KFP pipeline is
    refused (400), creating an existing tag conflicts (409) while update_tag moves it, and
    unknown tags are 404, each with Google's error JSON."""
    client = RegistryClient(host=host, config_file=DEFAULT_REGISTRY_CONTEXT)
    other = tmp_path / "other.yaml"
    other.write_text("components: {}\n")
    with pytest.raises(requests.HTTPError) as bad:
        client.upload_pipeline(str(other))
    assert bad.value.response.status_code == 400
    assert bad.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"

    package, first = client.upload_pipeline(
        str(shippable / "pipelines" / "training.yaml"), tags=["latest"]
    )
    _, second = client.upload_pipeline(str(changed_copy(tmp_path)))
    with pytest.raises(requests.HTTPError) as conflict:
        client.create_tag(package, second, "latest")
    assert conflict.value.response.status_code == 409
    assert conflict.value.response.json()["error"]["status"] == "ALREADY_EXISTS"
    assert client.get_tag(package, "latest")["version"].endswith(first)
    client.update_tag(package, second, "latest")
    assert client.get_tag(package, "latest")["version"].endswith(second)
    with pytest.raises(requests.HTTPError) as missing:
        client.get_tag(package, "nope")
    assert missing.value.response.json()["error"] == {
        "code": 404,
        "message": f"Tag 'projects/{PROJECT}/locations/us-central1/repositories/{REPOSITORY}"
        "/packages/training/tags/nope' not found.",
        "status": "NOT_FOUND",
    }
