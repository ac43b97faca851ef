"""What a pool runs: a container image or a Python package on a prebuilt image."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vtp.components.specs._validate import FrozenMap, check_pattern, check_str, str_map, str_tuple
from vtp.errors import SpecError
from vtp.gcs import check_gcs_uri

_IMAGE_URI = re.compile(r"\S+")
_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_GCS_URI = re.compile(r"gs://[^/\s]+/\S+")


def _env(root: str, env: object) -> FrozenMap:
    mapping = str_map(f"{root}.env", env)
    for name in mapping:
        if "=" in name:
            raise SpecError(f"{root}.env", name, "names must not contain '='")
    return mapping


def _image(field_name: str, value: object) -> str:
    check_str(field_name, value, required=True)
    return check_pattern(field_name, value, _IMAGE_URI, "must be an image URI without spaces")


def env_list(env: Mapping[str, str]) -> list[dict[str, str]]:
    """`{"A": "1"}` -> `[{"name": "A", "value": "1"}]` (the proto's EnvVar list)."""
    return [{"name": name, "value": value} for name, value in env.items()]


@dataclass(frozen=True)
class ContainerSpec:
    """A custom container: `command` replaces the image ENTRYPOINT, `args` its CMD."""

    image_uri: str
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        root = "container_spec"
        _image(f"{root}.image_uri", self.image_uri)
        object.__setattr__(self, "command", str_tuple(f"{root}.command", self.command))
        object.__setattr__(self, "args", str_tuple(f"{root}.args", self.args))
        object.__setattr__(self, "env", _env(root, self.env))

    def to_dict(self) -> dict[str, Any]:
        """The proto JSON dict (snake_case), empty fields omitted."""
        out: dict[str, Any] = {"image_uri": self.image_uri}
        if self.command:
            out["command"] = list(self.command)
        if self.args:
            out["args"] = list(self.args)
        if self.env:
            out["env"] = env_list(self.env)
        return out


@dataclass(frozen=True)
class PythonPackageSpec:
    """A Python source distribution (on Cloud Storage) run as `python -m python_module`."""

    executor_image_uri: str
    package_uris: Sequence[str]
    python_module: str
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        root = "python_package_spec"
        _image(f"{root}.executor_image_uri", self.executor_image_uri)
        uris = str_tuple(f"{root}.package_uris", self.package_uris)
        if not 1 <= len(uris) <= 100:
            raise SpecError(f"{root}.package_uris", list(uris), "must hold 1 to 100 URIs")
        for i, uri in enumerate(uris):
            if not _GCS_URI.fullmatch(uri):
                raise SpecError(f"{root}.package_uris[{i}]", uri, "must be a gs://bucket/path URI")
            check_gcs_uri(f"{root}.package_uris[{i}]", uri)
        object.__setattr__(self, "package_uris", uris)
        check_str(f"{root}.python_module", self.python_module, required=True)
        check_pattern(
            f"{root}.python_module",
            self.python_module,
            _MODULE,
            "must be a dotted module name such as trainer.task",
        )
        object.__setattr__(self, "args", str_tuple(f"{root}.args", self.args))
        object.__setattr__(self, "env", _env(root, self.env))

    def to_dict(self) -> dict[str, Any]:
        """The proto JSON dict (snake_case), empty fields omitted."""
        out: dict[str, Any] = {
            "executor_image_uri": self.executor_image_uri,
            "package_uris": list(self.package_uris),
            "python_module": self.python_module,
        }
        if self.args:
            out["args"] = list(self.args)
        if self.env:
            out["env"] = env_list(self.env)
        return out
