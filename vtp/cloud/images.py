"""vtp's container images and the command lines that build and push them.

Images: `trainer` (`trainers/Dockerfile`, CPU), `trainer-gpu` (`trainers/Dockerfile.gpu`, CUDA
base), `trainer-distributed` (`trainers/Dockerfile.distributed`, the distributed example
trainer) and `components` (the root `Dockerfile`: kfp, GCPC and vtp, the image of vtp's Python
components, `vtp compile --component-image`). Each is tagged with the project version and the
git commit (`-dirty` when the tree has changes). With a Docker engine they are built (and
pushed) with `docker`; otherwise with Cloud Build, `gcloud builds submit`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from vtp.errors import SpecError, VtpError
from vtp.local.docker_runtime import INSTALL_DOCKER

DOCKER, CLOUD_BUILD = "docker", "cloud-build"
#: Vertex AI training and pipeline machines are x86-64.
PLATFORM = "linux/amd64"
#: The builder image of a Cloud Build step that runs `docker build`.
CLOUD_BUILDER = "gcr.io/cloud-builders/docker"
CLOUD_BUILD_TIMEOUT = "3600s"
#: One list of files kept out of the build context, for `docker build` and Cloud Build alike.
IGNORE_FILE = ".dockerignore"
INSTALL_GCLOUD = "https://cloud.google.com/sdk/docs/install"
REGISTRY_EXAMPLE = "us-central1-docker.pkg.dev/PROJECT/REPO"
_REGISTRY = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$", re.IGNORECASE
)
_GCR_HOSTS = ("gcr.io", "us.gcr.io", "eu.gcr.io", "asia.gcr.io")


@dataclass(frozen=True)
class ImageDef:
    """One image: its short name, its repository name and its Dockerfile (from the root)."""

    key: str
    repository: str
    dockerfile: str
    about: str


IMAGES: dict[str, ImageDef] = {
    d.key: d
    for d in (
        ImageDef("trainer", "vtp-trainer", "trainers/Dockerfile", "reference trainer, CPU"),
        ImageDef(
            "trainer-gpu",
            "vtp-trainer-gpu",
            "trainers/Dockerfile.gpu",
            "reference trainer on an nvidia/cuda base",
        ),
        ImageDef(
            "trainer-distributed",
            "vtp-trainer-distributed",
            "trainers/Dockerfile.distributed",
            "distributed example trainer (primary + workers), CPU",
        ),
        ImageDef(
            "components", "vtp-components", "Dockerfile", "vtp's Python components (kfp, GCPC, vtp)"
        ),
    )
}
DEFAULT_IMAGES = ("trainer", "components")


class ToolsMissing(VtpError):
    """Neither a Docker engine nor a usable gcloud: nothing here can build the images."""


@dataclass(frozen=True)
class Command:
    """One command line of a plan: what it does to which image."""

    image: str
    action: str
    argv: list[str]


@dataclass
class Plan:
    """How to build (and push) images: the commands, in order, and each image's URIs."""

    builder: str
    push: bool
    root: Path
    uris: dict[str, list[str]]
    commands: list[Command]
    config_path: Path | None = None
    config_text: str = ""
    notes: list[str] = field(default_factory=list)


def source_root() -> Path:
    """The source tree holding the Dockerfiles (the repository root)."""
    from vtp.shipped import source_checkout

    root = source_checkout() or Path(__file__).resolve().parents[2]
    missing = [d.dockerfile for d in IMAGES.values() if not (root / d.dockerfile).is_file()]
    if missing:
        raise VtpError(
            f"the Dockerfiles are not at {root} ({', '.join(missing)} missing): build images "
            "from a source checkout of vtp (pip install -e .)"
        )
    return root


def project_version() -> str:
    """The installed vtp version, e.g. `0.1.0`."""
    from vtp.cloud.publish import package_version  # fails clearly when vtp is not installed

    return package_version()


def git_revision(root: Path) -> str | None:
    """`git rev-parse --short HEAD` of `root`, plus `-dirty` when files differ from it
    (untracked files too: they would be in the image); None outside a git checkout."""
    git = shutil.which("git")
    if git is None:
        return None
    head = _git(git, root, "rev-parse", "--short", "HEAD")
    if not head:
        return None
    status = _git(git, root, "status", "--porcelain")
    return head + ("-dirty" if status else "")


def _git(git: str, root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            [git, "-C", str(root), *args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def image_tags(root: Path) -> list[str]:
    """The tags every image gets: the project version, then the git revision when known."""
    tags = [project_version()]
    revision = git_revision(root)
    if revision and revision not in tags:
        tags.append(revision)
    return tags


def check_registry(value: str | None, *, required: str = "", field: str = "--registry") -> str:
    """`value` without a trailing slash, checked; `required` names why one is needed."""
    if value is None or not value.strip():
        if required:
            raise VtpError(f"--registry is required {required}, e.g. {REGISTRY_EXAMPLE}")
        return ""
    registry = value.strip().rstrip("/")
    if "://" in registry:
        raise SpecError(field, value, f"must be a path without a scheme, e.g. {REGISTRY_EXAMPLE}")
    if not _REGISTRY.match(registry):
        raise SpecError(
            field,
            value,
            "must be HOST[:PORT][/PATH...] of letters, digits, '.', '-' and '_' (no tag), "
            f"e.g. {REGISTRY_EXAMPLE}",
        )
    if registry != registry.lower():
        raise SpecError(field, value, "must be lowercase (image references are)")
    parts = registry.split("/")
    if parts[0].endswith("-docker.pkg.dev") and len(parts) != 3:
        raise SpecError(
            field,
            value,
            f"must be LOCATION-docker.pkg.dev/PROJECT/REPO for Artifact Registry, e.g. "
            f"{REGISTRY_EXAMPLE}",
        )
    if parts[0] in _GCR_HOSTS and len(parts) < 2:
        raise SpecError(field, value, f"must name a project: {parts[0]}/PROJECT")
    return registry


def registry_project(registry: str) -> str | None:
    """The Google Cloud project of an Artifact Registry or Container Registry path."""
    parts = registry.split("/")
    if len(parts) >= 2 and (parts[0].endswith("-docker.pkg.dev") or parts[0] in _GCR_HOSTS):
        return parts[1]
    return None


def image_uris(key: str, registry: str, tags: Sequence[str]) -> list[str]:
    """`REGISTRY/vtp-trainer:TAG` for every tag (`vtp-trainer:TAG` without a registry)."""
    repository = IMAGES[key].repository
    base = f"{registry}/{repository}" if registry else repository
    return [f"{base}:{tag}" for tag in tags]


def check_images(names: Sequence[str]) -> list[str]:
    """Image keys from the command line (`all` = every image), deduplicated, in order."""
    chosen: list[str] = []
    for name in names or DEFAULT_IMAGES:
        for key in IMAGES if name == "all" else [name]:
            if key not in IMAGES:
                raise SpecError("IMAGE", name, f"must be one of {', '.join([*IMAGES, 'all'])}")
            if key not in chosen:
                chosen.append(key)
    return chosen


def docker_plan(
    images: Sequence[str],
    *,
    registry: str,
    tags: Sequence[str],
    root: Path,
    push: bool,
    docker: str = "docker",
) -> Plan:
    """`docker build` of each image with all its tags, then `docker push` of each tag."""
    uris = {key: image_uris(key, registry, tags) for key in images}
    commands = []
    for key in images:
        argv = [docker, "build", "--platform", PLATFORM, "-f", str(root / IMAGES[key].dockerfile)]
        for uri in uris[key]:
            argv += ["-t", uri]
        commands.append(Command(key, "build", [*argv, str(root)]))
    if push:
        for key in images:
            commands += [Command(key, "push", [docker, "push", uri]) for uri in uris[key]]
    return Plan(DOCKER, push, root, uris, commands)


def cloud_build_plan(
    images: Sequence[str],
    *,
    registry: str,
    tags: Sequence[str],
    root: Path,
    config_path: Path,
    gcloud: str = "gcloud",
) -> Plan:
    """One `gcloud builds submit`, which builds every image and pushes all their tags.

    `--tag` when it is one image of the root Dockerfile with one tag (what `--tag` can do);
    otherwise a generated build config with one `docker build` step per image.
    """
    uris = {key: image_uris(key, registry, tags) for key in images}
    argv = [gcloud, "builds", "submit"]
    plan = Plan(CLOUD_BUILD, True, root, uris, [])
    single = len(images) == 1 and IMAGES[images[0]].dockerfile == "Dockerfile"
    if single and len(uris[images[0]]) == 1:
        argv += ["--tag", uris[images[0]][0]]
    else:
        plan.config_path = config_path
        plan.config_text = cloudbuild_config(images, uris)
        argv += ["--config", str(config_path)]
    project = registry_project(registry)
    if project:
        argv += ["--project", project]
    argv += [f"--ignore-file={IGNORE_FILE}", str(root)]
    plan.commands.append(Command(",".join(images), "submit", argv))
    return plan


def cloudbuild_config(images: Sequence[str], uris: dict[str, list[str]]) -> str:
    """A Cloud Build config (YAML): the images' builds run in parallel, then every tag is
    pushed (`images`)."""
    import yaml

    steps = []
    for key in images:
        args = ["build", "-f", IMAGES[key].dockerfile]
        for uri in uris[key]:
            args += ["-t", uri]
        steps.append({"id": key, "name": CLOUD_BUILDER, "args": [*args, "."], "waitFor": ["-"]})
    config = {
        "steps": steps,
        "images": [uri for key in images for uri in uris[key]],
        "timeout": CLOUD_BUILD_TIMEOUT,
    }
    header = "# Generated by `vtp image`: builds vtp's images and pushes every tag.\n"
    return header + yaml.safe_dump(config, sort_keys=False, width=1000, default_flow_style=None)


def gcloud_problem() -> str | None:
    """Why `gcloud builds submit` cannot run here, None when gcloud has an active account.

    Reads gcloud's local configuration only (`gcloud config get-value account`).
    """
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return "`gcloud` is not on PATH"
    env = {
        **os.environ,
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
    }
    try:
        done = subprocess.run(
            [gcloud, "config", "get-value", "account"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`gcloud config get-value account` did not answer ({exc})"
    if done.returncode != 0 or not done.stdout.strip():
        return "gcloud has no active account"
    return None


def choose_builder(forced: str | None, *, registry: str, dry_run: bool) -> tuple[str, list[str]]:
    """The builder to use and notes about the choice.

    `forced` (`docker` or `cloud-build`) is checked unless `dry_run`; otherwise docker when an
    engine answers, else Cloud Build (which pushes, so it needs `registry`). ToolsMissing
    names what to install.
    """
    from vtp.local.docker_runtime import engine_problem

    if forced == CLOUD_BUILD:
        check_registry(registry, required="to build with Cloud Build (it pushes the images)")
        problem = None if dry_run else gcloud_problem()
        if problem:
            raise ToolsMissing(
                f"Cloud Build needs the Google Cloud CLI with an active account: {problem}; "
                f"install it ({INSTALL_GCLOUD}) and run `gcloud auth login`"
            )
        return CLOUD_BUILD, []
    if forced == DOCKER:
        problem = None if dry_run else engine_problem()
        if problem:
            raise ToolsMissing(
                f"docker builds need a running Docker engine: {problem}; install Docker Engine "
                f"({INSTALL_DOCKER}) and start it, or build with Cloud Build (--cloud-build)"
            )
        return DOCKER, []
    docker_problem = engine_problem()
    if docker_problem is None:
        return DOCKER, []
    if dry_run and not registry:
        return DOCKER, [
            f"no Docker engine here ({docker_problem}); these are the docker commands "
            "(Cloud Build would need --registry)"
        ]
    note = f"no Docker engine here ({docker_problem}): using Cloud Build"
    cloud_problem = None if dry_run else gcloud_problem()
    if cloud_problem is None:
        check_registry(registry, required=f"to build with Cloud Build, as {note.split(':')[0]}")
        return CLOUD_BUILD, [note]
    raise ToolsMissing(
        "nothing here can build images: no Docker engine "
        f"({docker_problem}) and no usable gcloud ({cloud_problem}). Install Docker Engine "
        f"({INSTALL_DOCKER}) to build locally, or the Google Cloud CLI ({INSTALL_GCLOUD}) and "
        "run `gcloud auth login` to build with Cloud Build"
    )


def execute(plan: Plan, out: TextIO) -> int:
    """Run the plan's commands in order, their output going to ours; the first failure stops.

    Returns the failing command's exit code, 0 when all succeeded.
    """
    if plan.config_path is not None:
        plan.config_path.parent.mkdir(parents=True, exist_ok=True)
        plan.config_path.write_text(plan.config_text)
        print(f"wrote {plan.config_path}", file=out, flush=True)
    for command in plan.commands:
        print(f"  ...  {command.action} {command.image}", file=out, flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run(command.argv, cwd=plan.root, check=False).returncode
        except OSError as exc:
            print(f"  FAIL {command.action} {command.image}: {exc}", file=out, flush=True)
            return 1
        seconds = time.monotonic() - started
        if code != 0:
            print(
                f"  FAIL {command.action} {command.image}  (exit code {code}, {seconds:.1f} s)\n"
                f"       {shlex.join(command.argv)}",
                file=out,
                flush=True,
            )
            hint = push_hint(command)
            if hint:
                print(f"       {hint}", file=out, flush=True)
            return code
        print(f"  ok   {command.action} {command.image}  ({seconds:.1f} s)", file=out, flush=True)
    return 0


def push_hint(command: Command) -> str:
    """What to check when a `docker push` to a Google registry fails."""
    if command.action != "push":
        return ""
    host = command.argv[-1].split("/", 1)[0]
    if host.endswith("-docker.pkg.dev") or host in _GCR_HOSTS:
        return f"is docker allowed to push there? `gcloud auth configure-docker {host}`"
    return ""


def summary(plan: Plan, *, dry_run: bool, registry: str = "", configured: bool = False) -> str:
    """The images' URIs and how to use them.

    Args:
        registry: Where they went ('' for local names).
        configured: `registry` is already the configured one (`vtp config`).
    """
    if plan.builder == CLOUD_BUILD:
        done = "built and pushed by Cloud Build"
    else:
        done = "built and pushed" if plan.push else "built locally"
    width = max(len(key) for key in plan.uris)
    lines = [f"images ({'would be ' if dry_run else ''}{done})"]
    for key, uris in plan.uris.items():
        for i, uri in enumerate(uris):
            lines.append(f"  {key if i == 0 else '':<{width}}  {uri}")
    lines.append("use them")
    if not registry:
        lines.append(
            "  local names: `vtp run --local --runtime docker` runs them; for Vertex, push them "
            f"with --registry {REGISTRY_EXAMPLE}"
        )
        return "\n".join(lines)
    if not configured:
        lines.append(f'  registry = "{registry}"  in [tool.vtp] of pyproject.toml, or vtp.toml')
    lines.append(f"  vtp compile  stamps vtp's images tagged {project_version()} into compiled/")
    if "trainer-gpu" in plan.uris:
        lines.append(
            f"  pipeline parameter trainer_image={plan.uris['trainer-gpu'][0]}  (GPU runs)"
        )
    return "\n".join(lines)
