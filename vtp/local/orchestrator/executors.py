"""What runs a task, chosen from its executor in the compiled pipeline, and the refusals.

- `dsl.importer` -> `ImporterExecutor`: the artifact the importer names, no process.
- A container running one of GCPC's Vertex launchers
  (`python3 -m google_cloud_pipeline_components.container.v1.<...>.launcher`) ->
  `LauncherExecutor` (`launchers.py`): the launcher's arguments are filled in as Vertex fills
  them and parsed as the launcher parses them; the request it would send goes to the local
  twin (custom job, hyperparameter tuning job, model upload, model get). Another launcher is
  refused before the run: there is no local twin of that Vertex service.
- A lightweight Python component (`@dsl.component`: KFP's `executor_main` on the function's
  source) -> `PythonExecutor`: the function runs as a process of this machine's Python (a
  child of the zygote, or a new process), with the executor input KFP would give it. Nothing
  is installed: every package of `packages_to_install` must already be installed here, or the
  run is refused before it starts, naming the package (a version that differs from the pinned
  one is allowed, with a notice: the local environment is the one being tried).
- Any other container -> `ContainerExecutor`: when its image is mapped to a local command
  (`vtp.local._commands.find_image_command`: the configuration's `image_commands`, then the
  built-in entries of vtp's reference images), that command (or the component's own
  `command`, with `python` made the mapping's interpreter or this one) runs as a local process
  with the mapping's environment, `PYTHONPATH` and working directory and the artifact paths on
  the local Cloud Storage root; else `docker run` of the image where a Docker engine answers
  (the local root mounted at `/gcs`); else the run is refused, naming the image.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vtp.errors import VtpError
from vtp.local.orchestrator.executor_io import Outputs, TaskPaths, artifact_resource_name
from vtp.local.orchestrator.placeholders import PlaceholderError, fill_command, fill_values
from vtp.local.orchestrator.tasklog import TaskLog

GCPC_CONTAINERS = "google_cloud_pipeline_components.container."
KFP_EXECUTOR = "kfp.dsl.executor_main"
_PYTHON = re.compile(r"^python(3(\.\d+)?)?$")


class Refusal(VtpError, ValueError):
    """What the local orchestrator cannot run, found before the run starts (exit code 2)."""


class StepFailed(VtpError, RuntimeError):
    """A step that ran and failed; the message says how. `log_path`: the log holding the
    program's own output where the failure is (a replica's), when not the step's log;
    `cause`: the line of that output that says why, when the executor found it."""

    def __init__(self, message: str, log_path: str = "", cause: str = ""):
        super().__init__(message)
        self.log_path = log_path
        self.cause = cause


class StepCancelled(VtpError, RuntimeError):
    """A step stopped because the run was cancelled."""


@dataclass
class StepContext:
    """Everything one attempt of a task needs."""

    task: str
    executor_input: dict[str, Any]
    pipeline_values: dict[str, str]
    paths: TaskPaths
    log: TaskLog
    should_stop: Callable[[], bool]
    env: dict[str, str]
    cwd: str
    gcs_root: Path
    project: str
    location: str
    work_dir: Path
    zygote: Any = None
    #: The home's cache (`cache/`): what lightweight components imported last time.
    cache_root: Path | None = None
    #: The standby child of the zygote made for this task (`PythonExecutor.prepare`), if
    #: any: the first attempt takes it, and what is not taken the scheduler ends.
    take_standby: Callable[[], Any] = lambda: None
    note_resource: Callable[[str], None] = lambda _: None
    notices: list[str] = field(default_factory=list)
    #: What the user should know, said once per run in the normal output (a GPU pool that
    #: runs on CPU here).
    notice: Callable[[str], None] = lambda _: None
    #: How far a long step is (`trials done 3 of 8 ...`, `replicas up 2 of 4`), as it advances.
    progress: Callable[[str], None] = lambda _: None

    def local_path(self, uri: str) -> str:
        """The path of `uri` on this machine (`gs://b/x` under the local Cloud Storage root)."""
        if uri.startswith("gs://"):
            return str(self.gcs_root / uri[len("gs://") :])
        if uri.startswith("/gcs/"):
            return str(self.gcs_root / uri[len("/gcs/") :])
        return uri


class Executor:
    """Runs one attempt of a task; returns its outputs when it made them itself, else None
    (they are then read from the executor output files)."""

    kind = "container"

    def describe(self) -> str:
        return self.kind

    def run(self, ctx: StepContext) -> Outputs | None:  # pragma: no cover - interface
        raise NotImplementedError


def _wait(process, ctx: StepContext, what: str) -> None:
    from vtp.local.replica_process import describe_exit

    code = process.wait(ctx.should_stop)
    if code is None:
        raise StepCancelled(f"{what} was stopped: the run was cancelled")
    if code != 0:
        cause = exception_line(ctx.log.tail())
        raise StepFailed(f"{what} {describe_exit(code)}" + (f": {cause}" if cause else ""))


_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b(:.*)?$")


def exception_line(lines: list[str]) -> str:
    """The `SomeError: message` line that ends the last Python traceback in `lines`, '' if
    none (the traceback's start may be cut off from a tail)."""
    for line in reversed(lines):
        if line and not line[0].isspace() and _EXCEPTION.match(line):
            return line.strip()
    return ""


# --- lightweight Python components ---------------------------------------------------------


@dataclass
class PythonExecutor(Executor):
    """`@dsl.component`: KFP's executor on the function, as a local process."""

    source: str
    args: list[Any]
    env: dict[str, str]
    packages: list[str]
    kind: str = "python"

    def describe(self) -> str:
        return f"python:{self.function}"

    @property
    def function(self) -> str:
        args = [str(a) for a in self.args]
        if "--function_to_execute" in args[:-1]:
            return args[args.index("--function_to_execute") + 1]
        return "?"

    @functools.cached_property
    def warm_key(self) -> str:
        from vtp.local.orchestrator.warm_imports import component_key

        return component_key(self.source, self.function)

    def step_env(self, run_env: Mapping[str, str]) -> dict[str, str]:
        return {**run_env, **self.env, "_KFP_RUNTIME": "true"}

    @functools.cached_property
    def body_imports(self) -> list[str]:
        """The modules imported by the first statements of the function's body (where KFP's
        docs ask a lightweight component to import): it imports them first, whatever its
        inputs."""
        try:
            tree = ast.parse(self.source)
        except (SyntaxError, ValueError):
            return []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == self.function:
                break
        else:
            return []
        modules: list[str] = []
        for statement in node.body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue  # the docstring
            if isinstance(statement, ast.Import):
                modules += [alias.name for alias in statement.names]
            elif isinstance(statement, ast.ImportFrom):
                if statement.module and not statement.level:  # not a relative import
                    modules.append(statement.module)
            else:
                break
        return modules

    def prepare(
        self, zygote: Any, *, env: Mapping[str, str], cwd: str, work_dir: Path, cache_root: Path
    ) -> Any:
        """A standby child importing the function's first imports and what this component
        imported when it last succeeded here; None when there is nothing to import or the
        zygote cannot make one."""
        from vtp.local.orchestrator.warm_imports import load

        preload = list(dict.fromkeys([*self.body_imports, *load(cache_root, self.warm_key)]))
        if not preload or zygote is None or not zygote.usable:
            return None
        return zygote.prepare(env=self.step_env(env), cwd=cwd, preload=preload, work_dir=work_dir)

    def run(self, ctx: StepContext) -> Outputs | None:
        module = ctx.work_dir / "ephemeral_component.py"
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text(self.source, encoding="utf-8")
        argv = [
            "--component_module_path",
            str(module),
            *fill_command(self.args, ctx.executor_input, ctx.pipeline_values, ctx.local_path),
        ]
        env = self.step_env(ctx.env)
        from vtp.local.orchestrator.steps import spawn

        zygote = ctx.zygote
        if zygote is not None and not zygote.wait_ready(ctx.should_stop) and ctx.should_stop():
            raise StepCancelled(f"component {self.function} was not started: the run was cancelled")
        profile = ctx.work_dir / "imports.json" if ctx.cache_root is not None else None
        if zygote is not None and zygote.usable:
            process = zygote.spawn(
                argv,
                env=env,
                cwd=ctx.cwd,
                sink=ctx.log,
                work_dir=ctx.work_dir,
                standby=ctx.take_standby(),
                profile=profile,
            )
        else:
            process = spawn(
                [sys.executable, "-m", "vtp.local.orchestrator._component_main", *argv],
                env=env,
                cwd=ctx.cwd,
                sink=ctx.log,
            )
        _wait(process, ctx, f"component {self.function}")
        if profile is not None:
            from vtp.local.orchestrator.warm_imports import save

            save(ctx.cache_root, self.warm_key, profile)
        return None


def _python_component(command: list[str], args: list[Any], env: dict) -> PythonExecutor | None:
    """The executor of a KFP lightweight component, None if `command` is not one.

    Compiled form: `sh -ec '<writes "$0" to ephemeral_component.py; python3 -m
    kfp.dsl.executor_main --component_module_path ... "$@">' '<source>'`, optionally after
    `sh -c '<pip install ...> && "$0" "$@"'`.
    """
    for i, part in enumerate(command):
        if (
            isinstance(part, str)
            and KFP_EXECUTOR in part
            and "ephemeral_component.py" in part
            and i >= 2
            and command[i - 1] in ("-ec", "-c")
            and i + 1 < len(command)
        ):
            packages = _pip_packages(command[: i - 2]) if i > 2 else []
            return PythonExecutor(str(command[i + 1]), list(args), env, packages)
    return None


_PIP_OPTIONS_WITH_VALUE = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--trusted-host",
    "-c",
    "--constraint",
    "-r",
    "--requirement",
}


def _pip_packages(prefix: list[str]) -> list[str]:
    """The requirements a component's `pip install` prefix installs (`packages_to_install`
    and `kfp` itself)."""
    script = " ".join(str(p) for p in prefix)
    found: list[str] = []
    for match in re.finditer(r"pip install(.*?)(?:&&|$|\n)", script, re.S):
        try:
            words = shlex.split(match.group(1))
        except ValueError:
            continue
        skip = False
        for word in words:
            if skip:
                skip = False
                continue
            if word in _PIP_OPTIONS_WITH_VALUE:
                skip = True
            elif not word.startswith("-"):
                found.append(word)
    return found


def check_packages(requirements: list[str], component: str) -> list[str]:
    """Refuses a requirement not installed here; returns notices for other versions.

    Raises:
        Refusal: naming the package.
    """
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    notices = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            if "://" in text or text.startswith((".", "/")) or text.endswith((".whl", ".zip")):
                raise Refusal(
                    f"component {component!r} installs {text!r} (packages_to_install) when it "
                    "starts; the local run installs nothing and cannot tell whether it is "
                    "installed here: install it in this environment and list it by name"
                ) from None
            raise Refusal(
                f"component {component!r}: packages_to_install entry {text!r} is not a valid "
                "requirement"
            ) from None
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            raise Refusal(
                f"component {component!r} needs package {req.name!r} (packages_to_install: "
                f"{text!r}), which is not installed in this Python environment "
                f"({sys.executable}); the local run installs nothing: pip install "
                f"{shlex.quote(text)}"
            ) from None
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            notices.append(
                f"component {component!r} asks for {text!r}; the local run uses the installed "
                f"{req.name} {version}"
            )
    return notices


# --- other containers ----------------------------------------------------------------------


@dataclass
class ContainerExecutor(Executor):
    """A container component: a local command for its image, or `docker run`."""

    image: str
    command: list[Any]
    args: list[Any]
    env: dict[str, str]
    local: Any = None  # the image's `vtp.local._commands.ImageCommand`
    docker: str | None = None
    kind: str = "container"

    def describe(self) -> str:
        return f"container:{self.image}"

    def run(self, ctx: StepContext) -> Outputs | None:
        from vtp.local.orchestrator.steps import spawn

        if self.docker is None:
            parts = self.command or []
            filled = fill_command(
                [*parts, *self.args], ctx.executor_input, ctx.pipeline_values, ctx.local_path
            )
            local = self.local
            if not self.command and local is not None:
                filled = [*local.command, *filled]
            if filled and _PYTHON.match(os.path.basename(filled[0])):
                filled[0] = (local.interpreter if local else None) or sys.executable
            env = {**ctx.env, **(dict(local.env) if local else {}), **self.env}
            if local is not None and local.pythonpath:
                env["PYTHONPATH"] = os.pathsep.join(
                    [*local.pythonpath, *filter(None, [env.get("PYTHONPATH", "")])]
                )
            cwd = (local.workdir if local is not None else "") or ctx.cwd
            try:
                process = spawn(filled, env=env, cwd=cwd, sink=ctx.log)
            except OSError as err:
                raise StepFailed(f"cannot start {shlex.join(filled)}: {err}") from None
            _wait(process, ctx, f"container {self.image} (local command)")
            return None
        return self._run_docker(ctx)

    def _run_docker(self, ctx: StepContext) -> Outputs | None:
        from vtp.gcs import GCS_FUSE_ROOT
        from vtp.local.orchestrator.steps import spawn

        def in_container(uri: str) -> str:
            if uri.startswith("gs://"):
                return GCS_FUSE_ROOT + "/" + uri[len("gs://") :]
            return uri

        inside = _paths_in_container(ctx.executor_input, ctx.gcs_root)
        filled = fill_command(
            [*(self.command or []), *self.args], inside, ctx.pipeline_values, in_container
        )
        name = "vtp-" + re.sub(r"[^a-zA-Z0-9_.-]+", "-", f"{ctx.task}-{os.getpid()}")[:60]
        argv = [str(self.docker), "run", "--rm", "--init", "--name", name, "--network", "host"]
        if hasattr(os, "getuid"):
            argv += ["--user", f"{os.getuid()}:{os.getgid()}"]
        argv += ["-v", f"{ctx.gcs_root}:{GCS_FUSE_ROOT}"]
        for var, value in sorted(self.env.items()):
            argv += ["-e", f"{var}={value}"]
        if self.command:
            argv += ["--entrypoint", filled[0], self.image, *filled[1:]]
        else:
            argv += [self.image, *filled]
        process = spawn(argv, env=dict(os.environ), cwd=ctx.cwd, sink=ctx.log)
        try:
            _wait(process, ctx, f"container {self.image}")
        finally:
            from vtp.local.docker_runtime import _cli

            _cli(str(self.docker), "rm", "--force", name)
        return None


def _paths_in_container(executor_input: Mapping[str, Any], gcs_root: Path) -> dict[str, Any]:
    """The executor input with local file paths under the Cloud Storage root as `/gcs/...`."""
    from vtp.gcs import GCS_FUSE_ROOT

    root = str(gcs_root).rstrip("/") + "/"
    text = json.dumps(executor_input).replace(json.dumps(root)[1:-1], GCS_FUSE_ROOT + "/")
    return json.loads(text)


# --- importers -----------------------------------------------------------------------------


@dataclass
class ImporterExecutor(Executor):
    spec: dict[str, Any]
    kind: str = "importer"

    def describe(self) -> str:
        return "importer"

    def run(self, ctx: StepContext) -> Outputs | None:
        uri_spec = self.spec.get("artifactUri") or {}
        params = ctx.executor_input.get("inputs", {}).get("parameterValues", {})
        if "constant" in uri_spec:
            uri = uri_spec["constant"]
        elif "runtimeParameter" in uri_spec:
            uri = params.get(uri_spec["runtimeParameter"]) or params.get("uri")
        else:
            uri = params.get("uri")
        if not isinstance(uri, str) or not uri:
            raise StepFailed(f"the importer has no artifact URI (got {uri!r})")
        metadata = fill_values(
            {"metadata": self.spec.get("metadata") or {}, **params}, ctx.pipeline_values
        )["metadata"]
        schema = self.spec.get("typeSchema") or {}
        artifact = {
            "name": artifact_resource_name(ctx.project, ctx.location, uri),
            "type": {
                "schemaTitle": schema.get("schemaTitle", "system.Artifact"),
                "schemaVersion": schema.get("schemaVersion", "0.0.1"),
            },
            "uri": uri,
            "metadata": metadata,
        }
        ctx.log(f"imported {uri} as {artifact['type']['schemaTitle']}")
        return Outputs({}, {"artifact": artifact})


# --- choosing ------------------------------------------------------------------------------


def classify(executor: Mapping[str, Any], component: str) -> Executor:
    """The executor of a compiled executor spec.

    Raises:
        Refusal: nothing here can run it (a GCPC launcher without a twin, an unmapped image
            with no Docker engine, a package that is not installed...).
    """
    if "importer" in executor:
        return ImporterExecutor(dict(executor["importer"]))
    if "container" not in executor:
        kinds = ", ".join(sorted(executor)) or "nothing"
        raise Refusal(f"component {component!r} runs {kinds}, which the local run cannot run")
    container = executor["container"]
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    env = {str(e["name"]): str(e.get("value", "")) for e in container.get("env") or []}
    launcher = launcher_module([*command, *args])
    if launcher:
        from vtp.local.orchestrator.launchers import launcher_executor

        return launcher_executor(launcher, command, args, component)
    python = _python_component(command, args, env)
    if python is not None:
        return python
    return _container(str(container.get("image") or ""), command, args, env, component)


def launcher_module(parts: list[Any]) -> str:
    """The GCPC module a container runs with `python -m`, '' if none."""
    text = [str(p) for p in parts]
    for i, part in enumerate(text[:-1]):
        if part == "-m" and text[i + 1].startswith(GCPC_CONTAINERS):
            return text[i + 1]
    return ""


def _container(image: str, command: list, args: list, env: dict, component: str) -> Executor:
    from vtp.local import _commands

    untagged = _commands.untagged(image)
    local = _commands.find_image_command(image, _commands.image_commands_from_env())
    if local is not None:
        return ContainerExecutor(image, command, args, env, local=local)
    from vtp.local.docker_runtime import engine_problem

    problem = engine_problem()
    if problem is None:
        from vtp.local.docker_runtime import docker_engine

        return ContainerExecutor(image, command, args, env, docker=docker_engine().docker)
    example = json.dumps({untagged: ["python", "-m", "your.module"]})
    raise Refusal(
        f"component {component!r} runs image {image!r}, which cannot run here: no Docker "
        f"engine ({problem}) and the image is not mapped to a local command. Map it, e.g. "
        f"{_commands.IMAGE_COMMANDS_ENV}='{example}' (exact URI or URI without tag), or run "
        "where Docker is installed."
    )


def placeholders_error(err: PlaceholderError, task: str) -> StepFailed:
    return StepFailed(f"task {task!r}: {err}")
