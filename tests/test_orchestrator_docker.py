"""A pipeline's container component whose image is not mapped to a local command runs with
docker, through the stand-in docker CLI of `test_docker_runtime` (no engine exists here)."""

import os
import sys
import textwrap

import pytest
from kfp import dsl
from support.pipelines import compile_pipeline
from test_docker_runtime import STAND_IN, calls, options

from vtp.home import LocalHome
from vtp.local import docker_runtime
from vtp.local.run import run_pipeline

pytestmark = pytest.mark.slow
IMAGE = "registry.example/shout:3"


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """The stand-in docker CLI first on PATH, no engine remembered; yields its state dir."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    script = bin_dir / "docker"
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(STAND_IN))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(docker_runtime, "_engine", None)
    monkeypatch.delenv("VTP_IMAGE_COMMANDS", raising=False)
    return state


@dsl.container_component
def shout(text: str, out: dsl.OutputPath(str)):
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["python", "-c", "import sys; open(sys.argv[2], 'w').write(sys.argv[1].upper())"],
        args=[text, out],
    )


def test_an_unmapped_container_component_runs_with_docker(tmp_path, stand_in):
    """`docker run` of the component's image with its command as entrypoint, the local Cloud
    Storage root mounted at /gcs and the executor's paths under /gcs; the output read back
    from the mount; the container removed by name."""

    @dsl.pipeline(name="in-docker")
    def in_docker(text: str = "quiet"):
        shout(text=text)

    path = compile_pipeline(in_docker, tmp_path)
    home = LocalHome(tmp_path / "home")
    result = run_pipeline(path, {}, home=home, out=None)
    assert result.tasks["shout"].outputs["out"] == "QUIET"
    (run,) = [c for c in calls(stand_in) if c[0] == "run"]
    name = options(run, "--name")[0]
    assert options(run, "-v") == [f"{home.gcs_root}:/gcs"]
    assert options(run, "--entrypoint") == ["python"]
    after_image = run[run.index(IMAGE) + 1 :]
    assert after_image[0] == "-c" and after_image[2] == "quiet"
    assert after_image[3].startswith("/gcs/local-pipeline-root/")  # the output path, inside
    assert ["rm", "--force", name] in calls(stand_in)
    assert not list(stand_in.glob("*.pid"))
