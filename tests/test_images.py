"""vtp's images: the Dockerfiles against the pins, and `vtp image build|push` command lines.

There is no Docker engine on the test machine and nothing may reach Google, so no image is
built or pushed here: the tests check the Dockerfiles as text against requirements.txt and
pyproject.toml, the exact commands `--dry-run` prints, and the errors when no builder is
usable (with the real `docker` client, whose engine is absent, and without `gcloud` on PATH).
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from support.dockerfiles import instructions

from vtp.cli.main import main
from vtp.cloud import images
from vtp.errors import SpecError, VtpError
from vtp.local import docker_runtime

REPO = Path(__file__).resolve().parents[1]
TRAINERS = REPO / "trainers"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
REGISTRY = "us-central1-docker.pkg.dev/my-project/my-repo"
#: GPU frameworks whose build (wheel) is tied to one CUDA version.
CUDA_FRAMEWORKS = {"torch", "tensorflow", "jax", "jaxlib", "cupy", "xgboost", "cuml"}


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[name.lower().replace("_", "-")] = version
    return out


def pip_installs(dockerfile: Path) -> list[list[str]]:
    """The arguments of every `pip install` in the Dockerfile's RUN instructions."""
    out = []
    for keyword, rest in instructions(dockerfile):
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            tokens = shlex.split(command)
            if "pip" in " ".join(tokens[:4]) and "install" in tokens:
                out.append(tokens[tokens.index("install") + 1 :])
    return out


def base_image(dockerfile: Path) -> str:
    return next(rest for keyword, rest in instructions(dockerfile) if keyword == "FROM")


# Dockerfiles --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_trainer_images_install_exactly_the_pinned_requirements(name):
    """The only install is `pip install -r requirements.txt`; every line there is pinned with
    `==`, cloudml-hypertune among them, and shared pins equal pyproject.toml's."""
    dockerfile = TRAINERS / name
    assert pip_installs(dockerfile) == [["-r", "/app/trainer/requirements.txt"]]
    copies = [rest.split() for keyword, rest in instructions(dockerfile) if keyword == "COPY"]
    assert ["trainers/requirements.txt", "/app/trainer/requirements.txt"] in copies
    required = pins(TRAINERS / "requirements.txt")
    assert "cloudml-hypertune" in required
    assert all(re.fullmatch(r"\d+(\.\d+)*(\.dev\d+)?", v) for v in required.values()), required
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    project_pins = dict(dep.lower().split("==", 1) for dep in project)
    shared = set(required) & set(project_pins)
    assert {"scikit-learn", "joblib", "numpy", "pandas", "pyarrow"} <= shared
    assert {n: required[n] for n in shared} == {n: project_pins[n] for n in shared}


def test_trainer_code_imports_only_what_the_image_installs():
    """Every third-party module imported anywhere under trainer/ (the COPY into both images)
    comes from a distribution pinned in requirements.txt."""
    required = set(pins(TRAINERS / "requirements.txt"))
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for path in (TRAINERS / "trainer").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("trainer", "__future__"):
                    continue
                owners = {d.lower().replace("_", "-") for d in dists.get(top, [top])}
                if not owners & required:
                    missing[f"{path.relative_to(REPO)}: {top}"] = sorted(owners)
    assert not missing, f"imported but not in trainers/requirements.txt: {missing}"


def test_every_image_runs_the_project_python():
    """The component image unpickles the trainer's model.joblib: every image (the root one,
    both reference trainer images and any other trainer image) has the venv's Python."""
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert f">={PYTHON}" in requires or f"=={PYTHON}" in requires or PYTHON in requires
    dockerfiles = [REPO / "Dockerfile", *sorted(TRAINERS.rglob("Dockerfile*"))]
    assert {TRAINERS / "Dockerfile", TRAINERS / "Dockerfile.gpu"} <= set(dockerfiles)
    for dockerfile in dockerfiles:
        base = base_image(dockerfile)
        runs = " ".join(rest for keyword, rest in instructions(dockerfile) if keyword == "RUN")
        if base.startswith("python:"):
            assert base.split(":", 1)[1].startswith(f"{PYTHON}-"), (dockerfile, base)
        else:
            assert f"python{PYTHON} -m venv" in runs, (dockerfile, base)
            assert "apt-get install" in runs and f" python{PYTHON} " in runs + " "


def test_gpu_image_base_matches_what_the_trainer_can_use():
    """The GPU image is nvidia/cuda (runtime + cuDNN) on an Ubuntu whose archive has the
    project's Python, in a venv first on PATH so the ENTRYPOINT's `python` is that one; the
    trainer pins no CUDA framework, so no framework build has to match the base's CUDA."""
    dockerfile = TRAINERS / "Dockerfile.gpu"
    match = re.fullmatch(
        r"nvidia/cuda:(\d+)\.(\d+)\.(\d+)-cudnn-runtime-ubuntu(\d+\.\d+)", base_image(dockerfile)
    )
    assert match, base_image(dockerfile)
    assert (int(match[1]), int(match[2])) >= (12, 0)
    assert match[4] == "22.04"  # 22.04's archive has python3.11; 24.04's Python is 3.12
    env = " ".join(rest for keyword, rest in instructions(dockerfile) if keyword == "ENV")
    assert "VIRTUAL_ENV=/opt/venv" in env and "PATH=/opt/venv/bin:$PATH" in env
    steps = instructions(dockerfile)
    assert ("ENTRYPOINT", '["python", "-m", "trainer.task"]') in steps
    assert not CUDA_FRAMEWORKS & set(pins(TRAINERS / "requirements.txt"))


def test_component_image_installs_the_project_with_its_pins():
    """The root Dockerfile copies what `pip install .` needs (pyproject, its readme, every
    folder a package is mapped from) and installs nothing else, unpinned pip included."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    steps = instructions(REPO / "Dockerfile")
    assert base_image(REPO / "Dockerfile") == f"python:{PYTHON}-slim"
    copied = {
        source.rstrip("/")
        for keyword, rest in steps
        if keyword == "COPY"
        for source in rest.split()[:-1]
    }
    setuptools = project["tool"]["setuptools"]
    roots = {*setuptools["package-dir"].values(), "vtp"}  # every folder a package comes from
    assert {"pyproject.toml", project["project"]["readme"], *roots} <= copied
    assert pip_installs(REPO / "Dockerfile") == [["."]]
    assert all("==" in dep for dep in project["project"]["dependencies"])


def test_dockerignore_keeps_local_state_out_and_the_sources_in():
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(
            fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p + "/*") or path.startswith(p + "/")
            for p in patterns
        )

    for local in (".venv/bin/python", ".vtp/registry.db", ".git/HEAD", "x/__pycache__/a.pyc"):
        assert ignored(local), local
    sources = []
    for dockerfile in (REPO / "Dockerfile", TRAINERS / "Dockerfile", TRAINERS / "Dockerfile.gpu"):
        for keyword, rest in instructions(dockerfile):
            if keyword == "COPY":
                sources += rest.split()[:-1]
    assert sources
    for source in sources:
        assert not ignored(source.rstrip("/")), source
        assert (REPO / source).exists(), source


# tags and registries -------------------------------------------------------------------------


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_tags_are_the_version_and_the_commit(tmp_path):
    assert images.git_revision(tmp_path) is None  # not a checkout: the version tag only
    assert images.image_tags(tmp_path) == [importlib.metadata.version("vtp")] == ["0.1.0"]
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-q", "-m", "one")
    head = git(tmp_path, "rev-parse", "--short", "HEAD")
    assert images.image_tags(tmp_path) == ["0.1.0", head]
    (tmp_path / "a.txt").write_text("2")
    assert images.git_revision(tmp_path) == f"{head}-dirty"
    git(tmp_path, "checkout", "-q", "a.txt")
    (tmp_path / "new.py").write_text("")  # untracked files would be in the image too
    assert images.git_revision(tmp_path) == f"{head}-dirty"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (REGISTRY + "/", REGISTRY),
        ("gcr.io/my-project", "gcr.io/my-project"),
        ("localhost:5000", "localhost:5000"),
        ("europe-west4-docker.pkg.dev/p-1/repo_a", "europe-west4-docker.pkg.dev/p-1/repo_a"),
    ],
)
def test_registry_accepted(value, expected):
    assert images.check_registry(value) == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("https://" + REGISTRY, "without a scheme"),
        ("us-central1-docker.pkg.dev/my-project", "LOCATION-docker.pkg.dev/PROJECT/REPO"),
        (REGISTRY + "/extra", "LOCATION-docker.pkg.dev/PROJECT/REPO"),
        ("gcr.io", "gcr.io/PROJECT"),
        ("us-central1-docker.pkg.dev/P/R", "lowercase"),
        (REGISTRY + "/img:tag", "no tag"),
        ("my registry", "HOST"),
    ],
)
def test_registry_rejected_naming_field_value_and_form(value, says):
    with pytest.raises(SpecError) as info:
        images.check_registry(value)
    assert info.value.field == "--registry" and info.value.value == value
    assert says in str(info.value)


def test_registry_required_to_push():
    with pytest.raises(VtpError, match="^--registry is required to push, e.g. [^,]*$"):
        images.check_registry(None, required="to push")


# plans ----------------------------------------------------------------------------------------


def test_docker_plan_builds_every_tag_then_pushes_each():
    plan = images.docker_plan(
        ["trainer", "components"],
        registry=REGISTRY,
        tags=["0.1.0", "abc1234"],
        root=REPO,
        push=True,
    )
    trainer = [f"{REGISTRY}/vtp-trainer:0.1.0", f"{REGISTRY}/vtp-trainer:abc1234"]
    components = [f"{REGISTRY}/vtp-components:0.1.0", f"{REGISTRY}/vtp-components:abc1234"]
    assert plan.uris == {"trainer": trainer, "components": components}
    build = ["docker", "build", "--platform", "linux/amd64", "-f"]
    assert [c.argv for c in plan.commands] == [
        [*build, f"{REPO}/trainers/Dockerfile", "-t", trainer[0], "-t", trainer[1], str(REPO)],
        [*build, f"{REPO}/Dockerfile", "-t", components[0], "-t", components[1], str(REPO)],
        ["docker", "push", trainer[0]],
        ["docker", "push", trainer[1]],
        ["docker", "push", components[0]],
        ["docker", "push", components[1]],
    ]
    local = images.docker_plan(["trainer-gpu"], registry="", tags=["0.1.0"], root=REPO, push=False)
    assert local.uris == {"trainer-gpu": ["vtp-trainer-gpu:0.1.0"]}
    assert [c.action for c in local.commands] == ["build"]


def test_cloud_build_plan_one_config_for_every_image_and_tag(tmp_path):
    config = tmp_path / "cloudbuild.yaml"
    plan = images.cloud_build_plan(
        ["trainer", "trainer-gpu"],
        registry=REGISTRY,
        tags=["0.1.0", "abc1234"],
        root=REPO,
        config_path=config,
    )
    (command,) = plan.commands
    assert command.argv == [
        "gcloud",
        "builds",
        "submit",
        "--config",
        str(config),
        "--project",
        "my-project",
        "--ignore-file=.dockerignore",
        str(REPO),
    ]
    parsed = yaml.safe_load(plan.config_text)
    assert [s["id"] for s in parsed["steps"]] == ["trainer", "trainer-gpu"]
    assert parsed["steps"][1]["args"] == [
        "build",
        "-f",
        "trainers/Dockerfile.gpu",
        "-t",
        f"{REGISTRY}/vtp-trainer-gpu:0.1.0",
        "-t",
        f"{REGISTRY}/vtp-trainer-gpu:abc1234",
        ".",
    ]
    assert all(s["name"] == "gcr.io/cloud-builders/docker" for s in parsed["steps"])
    assert parsed["images"] == [*plan.uris["trainer"], *plan.uris["trainer-gpu"]]

    single = images.cloud_build_plan(
        ["components"], registry="gcr.io/p", tags=["0.1.0"], root=REPO, config_path=config
    )
    assert single.commands[0].argv[3:5] == ["--tag", "gcr.io/p/vtp-components:0.1.0"]
    assert single.config_path is None


# the command --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_engine(monkeypatch):
    """Every test probes the Docker engine itself (none is remembered across tests)."""
    monkeypatch.setattr(docker_runtime, "_engine", None)


def tools_only(tmp_path: Path, *names: str) -> str:
    """A PATH directory holding only `names` (links to the real tools) and git."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("git", *names):
        real = shutil.which(name)
        if real is None:
            pytest.skip(f"{name} is not installed here")
        os.symlink(real, bin_dir / name)
    return str(bin_dir)


def test_dry_run_prints_the_exact_commands_and_runs_nothing(capsys, tmp_path):
    code = main(["image", "push", "trainer", "--registry", REGISTRY, "--docker", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    tags = images.image_tags(REPO)
    uris = [f"{REGISTRY}/vtp-trainer:{t}" for t in tags]
    build = ["docker", "build", "--platform", "linux/amd64", "-f", f"{REPO}/trainers/Dockerfile"]
    for uri in uris:
        build += ["-t", uri]
    expected = [shlex.join([*build, str(REPO)]), *(shlex.join(["docker", "push", u]) for u in uris)]
    commands = [line for line in out.splitlines() if line.startswith("docker ")]
    assert commands == expected
    assert "nothing was run" in out
    assert f"  trainer  {uris[0]}" in out
    assert "  vtp compile  stamps vtp's images tagged" in out


def test_dry_run_cloud_build_shows_the_config_and_the_compile_line(capsys, tmp_path):
    args = ["image", "build", "all", "--registry", REGISTRY, "--cloud-build", "--dry-run"]
    assert main([*args, "--home", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    config = tmp_path / "images" / "cloudbuild.yaml"
    assert not config.exists()  # a dry run writes nothing
    text = "\n".join(line[4:] for line in out.splitlines() if line.startswith("#   "))
    assert len(yaml.safe_load(text)["steps"]) == len(images.IMAGES)
    (submit,) = [line for line in out.splitlines() if line.startswith("gcloud ")]
    assert shlex.split(submit)[:5] == ["gcloud", "builds", "submit", "--config", str(config)]
    version = images.project_version()
    use = out.split("use them\n", 1)[1].splitlines()
    assert use == [
        f'  registry = "{REGISTRY}"  in [tool.vtp] of pyproject.toml, or vtp.toml',
        f"  vtp compile  stamps vtp's images tagged {version} into compiled/",
        f"  pipeline parameter trainer_image={REGISTRY}/vtp-trainer-gpu:{version}  (GPU runs)",
    ]


def test_with_the_registry_configured_the_summary_says_compile(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_REGISTRY", REGISTRY)
    args = ["image", "push", "trainer", "--cloud-build", "--dry-run", "--home", str(tmp_path)]
    assert main(args) == 0
    use = capsys.readouterr().out.split("use them\n", 1)[1].splitlines()
    assert use == [
        f"  vtp compile  stamps vtp's images tagged {images.project_version()} into compiled/"
    ]


def test_no_engine_and_no_gcloud_is_a_clear_error(capsys, tmp_path, monkeypatch):
    """The real docker client finds no engine; gcloud is left off PATH."""
    monkeypatch.setenv("PATH", tools_only(tmp_path, "docker"))
    code = main(["image", "build", "--registry", REGISTRY])
    err = capsys.readouterr().err
    assert code == 1
    assert "nothing here can build images: no Docker engine (`docker info` says:" in err
    assert "no usable gcloud (`gcloud` is not on PATH)" in err
    assert "Install Docker Engine (https://docs.docker.com/engine/install/)" in err
    assert "Google Cloud CLI (https://cloud.google.com/sdk/docs/install)" in err


def test_docker_without_client_or_engine_fails(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", tools_only(tmp_path))
    assert main(["image", "build", "trainer", "--docker"]) == 1
    assert "docker builds need a running Docker engine: `docker` is not on PATH" in (
        capsys.readouterr().err
    )
    assert main(["image", "build", "trainer", "--cloud-build", "--registry", REGISTRY]) == 1
    err = capsys.readouterr().err
    assert "Cloud Build needs the Google Cloud CLI with an active account" in err


def test_bad_input_exits_2_naming_the_field(capsys):
    assert main(["image", "push", "trainer", "--docker", "--dry-run"]) == 2
    assert "--registry is required to push images" in capsys.readouterr().err
    assert main(["image", "build", "trainer", "--registry", "https://x.io/p", "--dry-run"]) == 2
    assert "--registry must be a path without a scheme" in capsys.readouterr().err
    assert main(["image", "build", "trainer-cpu", "--dry-run"]) == 2
    allowed = ", ".join([*images.IMAGES, "all"])
    assert f"IMAGE must be one of {allowed}" in capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["image", "push", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--registry us-central1-docker.pkg.dev/PROJECT/REPO" in out
    assert "trainer-gpu   trainers/Dockerfile.gpu" in out


def test_summary_lists_the_uris_and_how_to_use_them():
    plan = images.docker_plan(["components"], registry="", tags=["0.1.0"], root=REPO, push=False)
    text = images.summary(plan, dry_run=False)
    assert text.splitlines() == [
        "images (built locally)",
        "  components  vtp-components:0.1.0",
        "use them",
        "  local names: `vtp run --local --runtime docker` runs them; for Vertex, push them with "
        "--registry us-central1-docker.pkg.dev/PROJECT/REPO",
    ]


def test_summary_says_how_to_use_every_image():
    plan = images.docker_plan(
        ["trainer", "trainer-gpu", "trainer-distributed", "components"],
        registry=REGISTRY,
        tags=["0.1.0"],
        root=REPO,
        push=True,
    )
    text = images.summary(plan, dry_run=False, registry=REGISTRY, configured=True)
    assert text.split("use them\n", 1)[1].splitlines() == [
        f"  vtp compile  stamps vtp's images tagged {images.project_version()} into compiled/",
        f"  pipeline parameter trainer_image={REGISTRY}/vtp-trainer-gpu:0.1.0  (GPU runs)",
    ]
