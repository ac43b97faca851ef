"""One configuration: what users would otherwise repeat on every command.

Where it is read from, first found wins:

1. `$VTP_CONFIG`: the path of a `vtp.toml` or a `pyproject.toml`;
2. walking up from the working directory, in each directory `vtp.toml` (keys at its top
   level), then `pyproject.toml` with a `[tool.vtp]` table (one without it is passed over).

Each value is then taken, highest first, from a command-line flag, an environment variable,
the file, or the default; `vtp config` prints every value and where it came from. Paths in a
file are relative to the file's directory. Every value is checked when the configuration is
loaded, so a bad one stops any command before it does anything (exit code 2).

```toml
[tool.vtp]
project = "my-project"
location = "europe-west4"
pipeline_root = "gs://my-bucket/runs"
registry = "europe-west4-docker.pkg.dev/my-project/images"   # images: vtp image push, compile
repository = "pipelines"                                      # templates: vtp publish

[tool.vtp.image_commands]   # local runs: what an image's ENTRYPOINT runs
"europe-west4-docker.pkg.dev/my-project/images/my-trainer" = ["python", "-m", "trainer.task"]
```
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vtp import defaults
from vtp.errors import SpecError, VtpError

CONFIG_ENV = "VTP_CONFIG"
FILE_NAMES = ("vtp.toml", "pyproject.toml")
DEFAULT = "default"

_PROJECT = re.compile(r"[a-z][a-z0-9-]{0,29}")


class ConfigError(VtpError):
    """A configuration file that cannot be read, or a key it must not hold."""


@dataclass(frozen=True)
class Setting:
    """A resolved value and where it came from: `source` is `default`, `flag --x`, `env NAME`
    or the file (`PATH [tool.vtp]` / `PATH`); `kind` is `default`, `flag`, `env` or `file`."""

    value: Any
    source: str
    kind: str = DEFAULT

    @property
    def configured(self) -> bool:
        """Set in the environment or the file (not on this command line, not a default)."""
        return self.kind in ("env", "file")


@dataclass(frozen=True)
class Key:
    """One configuration key: its flag and environment variable, its check and its default."""

    name: str
    about: str
    env: str | None
    flag: str | None
    check: Callable[[str, Any], Any]
    kind: str = "string"
    path: bool = False
    default: Callable[[Mapping[str, Any]], Any] | None = None


def _string(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(field, value, "must be a non-empty string")
    return value.strip()


def _project(field: str, value: Any) -> str:
    value = _string(field, value)
    if not _PROJECT.fullmatch(value):
        raise SpecError(
            field, value, "must be a project id: lowercase letters, digits and -, at most 30"
        )
    return value


def _location(field: str, value: Any) -> str:
    from vtp.cloud.vertex_client import LOCATION, LOCATION_RULE

    value = _string(field, value)
    if not LOCATION.fullmatch(value):
        raise SpecError(field, value, LOCATION_RULE)
    return value


def _pipeline_root(field: str, value: Any) -> str:
    from vtp.cloud.pipeline_job import check_pipeline_root

    return check_pipeline_root(field, _string(field, value))


def _service_account(field: str, value: Any) -> str:
    from vtp.cloud.pipeline_job import check_service_account

    return check_service_account(field, _string(field, value))


def _registry(field: str, value: Any) -> str:
    from vtp.cloud.images import check_registry

    return check_registry(_string(field, value), field=field)


def _repository(field: str, value: Any) -> str:
    from vtp.cloud.templates import check_repository

    return check_repository(_string(field, value), field)


def _image(field: str, value: Any) -> str:
    from vtp.image_refs import parse

    value = _string(field, value)
    parse(value, field)
    return value


def _trainer_images(field: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise SpecError(
            field, value, f"must be a table of {', '.join(defaults.TRAINER_IMAGE_KEYS)}"
        )
    out = {}
    for key, image in value.items():
        if key not in defaults.TRAINER_IMAGE_KEYS:
            raise SpecError(
                f"{field} key", key, f"must be one of {', '.join(defaults.TRAINER_IMAGE_KEYS)}"
            )
        out[key] = _image(f"{field}.{key}", image)
    return out


def _image_commands(field: str, value: Any) -> dict[str, list[str]]:
    from vtp.local.image_commands import parse_image_commands

    return parse_image_commands(value, field)


def _default_trainer_images(values: Mapping[str, Any]) -> dict[str, str]:
    registry = values.get("registry") or ""
    return {key: defaults.image(key, registry) for key in defaults.TRAINER_IMAGE_KEYS}


KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key(
            "home",
            "root of local state (runs, jobs, registry, local Cloud Storage)",
            "VTP_HOME",
            "--home",
            _string,
            path=True,
            default=lambda v: ".vtp",
        ),
        Key(
            "project",
            "Google Cloud project of the Vertex AI resources",
            "GOOGLE_CLOUD_PROJECT",
            "--project",
            _project,
        ),
        Key(
            "location",
            "Vertex AI region",
            "VTP_LOCATION",
            "--location",
            _location,
            default=lambda v: defaults.DEFAULT_LOCATION,
        ),
        Key(
            "pipeline_root",
            "gs:// root of runs' artifacts on Vertex (the staging bucket)",
            "VTP_PIPELINE_ROOT",
            "--pipeline-root",
            _pipeline_root,
        ),
        Key(
            "service_account",
            "service account runs and schedules run as",
            "VTP_SERVICE_ACCOUNT",
            "--service-account",
            _service_account,
        ),
        Key(
            "registry",
            "Artifact Registry Docker repository of vtp's images (vtp image push)",
            "VTP_REGISTRY",
            "--registry",
            _registry,
        ),
        Key(
            "repository",
            "Artifact Registry KFP repository of pipeline templates (vtp publish)",
            "VTP_REPOSITORY",
            "--repository",
            _repository,
        ),
        Key(
            "compiled",
            "directory of your compiled pipelines (vtp compile, check, publish, submit)",
            "VTP_COMPILED",
            "--out",
            _string,
            path=True,
            default=lambda v: "compiled",
        ),
        Key(
            "component_image",
            "image vtp's Python components run in on Vertex (stamped by vtp compile)",
            "VTP_COMPONENT_IMAGE",
            "--component-image",
            _image,
            default=lambda v: defaults.image("components", v.get("registry") or ""),
        ),
        Key(
            "trainer_images",
            "reference trainer images by key (trainer, trainer-gpu, trainer-distributed)",
            "VTP_TRAINER_IMAGES",
            None,
            _trainer_images,
            kind="table",
            default=_default_trainer_images,
        ),
        Key(
            "image_commands",
            "local runs: image URI -> the command its ENTRYPOINT runs",
            "VTP_IMAGE_COMMANDS",
            None,
            _image_commands,
            kind="table",
            default=lambda v: {},
        ),
    )
}


@dataclass(frozen=True)
class Images:
    """The images Vertex runs vtp's steps with: the component image and the reference trainer
    images by key (`trainer`, `trainer-gpu`, `trainer-distributed`); unset trainer images keep
    the template's (`vtp.defaults`)."""

    component: str = defaults.COMPONENT_IMAGE
    trainers: Mapping[str, str] = field(default_factory=dict)

    def trainer(self, key: str) -> str:
        return self.trainers.get(key) or defaults.image(key)

    def replacements(self) -> dict[str, str]:
        """Template image -> configured image, for those that differ: what `vtp compile`
        stamps."""
        pairs = {defaults.COMPONENT_IMAGE: self.component}
        for key in defaults.TRAINER_IMAGE_KEYS:
            pairs[defaults.image(key)] = self.trainer(key)
        return {old: new for old, new in pairs.items() if old != new}


@dataclass(frozen=True)
class Config:
    """The resolved configuration: a Setting per key (unset keys have value None)."""

    path: Path | None
    settings: Mapping[str, Setting] = field(default_factory=dict)

    def value(self, key: str) -> Any:
        return self.settings[key].value

    def images(self) -> Images:
        return Images(self.value("component_image"), dict(self.value("trainer_images")))


def find_file(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file in effect (see the module docstring), or None."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(CONFIG_ENV, "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={explicit}: no such file")
        return path.resolve()
    here = (cwd or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        own = directory / "vtp.toml"
        if own.is_file():
            return own
        project = directory / "pyproject.toml"
        if project.is_file() and _has_tool_table(project):
            return project
    return None


def _has_tool_table(path: Path) -> bool:
    return "vtp" in (_read(path).get("tool") or {})


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read it ({err.strerror or err})") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


def file_table(path: Path) -> tuple[dict[str, Any], str]:
    """The configuration table of `path` (`[tool.vtp]` of a pyproject.toml, else the whole
    file) and how messages name it."""
    data = _read(path)
    if path.name != "pyproject.toml":
        return data, str(path)
    table = (data.get("tool") or {}).get("vtp")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: no [tool.vtp] table")
    return table, f"{path} [tool.vtp]"


def load(
    *,
    flags: Mapping[str, Any] | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Reads and checks the configuration: flags over the environment over the file over
    the defaults.

    Args:
        flags: Key -> value given on the command line (None values are not given).
        cwd: Where the search for a file starts (default: the working directory).
        environ: The environment (default: `os.environ`).

    Raises:
        ConfigError: the file cannot be read or holds an unknown key.
        SpecError: a value is not allowed (naming the flag, variable or file key, the value
            and what is allowed).
    """
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = find_file(cwd, environ)
    table, where = file_table(path) if path else ({}, "")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; keys: {', '.join(KEYS)}")
    base = path.parent if path else (cwd or Path.cwd())
    settings: dict[str, Setting] = {}
    values: dict[str, Any] = {}
    for key in KEYS.values():
        if key.name in flags:
            kind, source = "flag", f"flag {key.flag}"
            value = key.check(key.flag or key.name, flags[key.name])
        elif key.env and environ.get(key.env, "").strip():
            kind, source = "env", f"env {key.env}"
            raw = _json(key.env, environ[key.env]) if key.kind == "table" else environ[key.env]
            value = key.check(key.env, raw)
        elif key.name in table:
            kind, source = "file", where
            value = key.check(f"{key.name} ({where})", table[key.name])
            if key.path:
                value = str((base / Path(value).expanduser()).resolve())
        elif key.default is not None:
            kind, value, source = DEFAULT, key.default(values), _default_source(key, values)
        else:
            kind, value, source = DEFAULT, None, DEFAULT
        if key.name == "trainer_images" and source != DEFAULT:  # the keys not given: defaults
            own = list(value)
            value = {**_default_trainer_images(values), **value}
            others = [k for k in value if k not in own]
            if others:
                source = (
                    f"{source} ({', '.join(own)}); "
                    f"{_default_source(key, values)} ({', '.join(others)})"
                )
        values[key.name] = value
        settings[key.name] = Setting(value, source, kind)
    return Config(path, settings)


def _default_source(key: Key, values: Mapping[str, Any]) -> str:
    derived = key.name in ("component_image", "trainer_images") and values.get("registry")
    return f"{DEFAULT} (from registry)" if derived else DEFAULT


def flags_from(args: Any) -> dict[str, Any]:
    """Key -> value of the configuration flags present on a parsed command line."""
    out = {}
    for key in KEYS.values():
        if key.flag:
            out[key.name] = getattr(args, key.flag.lstrip("-").replace("-", "_"), None)
    return out


def _json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(name, text, f"must be a JSON object ({err})") from None


def export(config: Config) -> None:
    """Makes processes this one starts (component steps) read the same file."""
    if config.path is not None:
        os.environ[CONFIG_ENV] = str(config.path)
