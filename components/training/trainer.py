"""The trainer a job runs, in the two forms Vertex AI defines ("Configure container settings
for custom training"):

- a container image run with its own ENTRYPOINT/CMD: `trainer_image`, optional
  `trainer_command` (empty: the image's ENTRYPOINT runs, so the payload has no `command`) and
  `trainer_args` (the CMD, replaced);
- a Python package on a prebuilt training image: `package_uris` (`gs://` source
  distributions), `python_module` (run as `python -m MODULE`) and `executor_image_uri` (one of
  Vertex's prebuilt training containers), with `trainer_args`.

Setting `python_module` chooses the second form. Hyperparameters are appended to the arguments
as Vertex appends a tuning trial's values: `--<name>=<value>`, the name unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vtp.components.specs import ContainerSpec, PythonPackageSpec
from vtp.components.specs.prebuilt_training import check_executor_image
from vtp.errors import SpecError


def hyperparameter_args(hyperparameters: Mapping[str, object]) -> list[str]:
    """`{"max_iter": 64}` -> `["--max_iter=64"]`, sorted by name, names unchanged.

    Whole numbers print as integers (`64`, not `64.0`: KFP hands integers over as floats).
    """
    if not isinstance(hyperparameters, Mapping):
        raise SpecError(
            "hyperparameters", hyperparameters, "must be a mapping of name -> number or string"
        )
    args = []
    for name in sorted(hyperparameters):
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise SpecError(
                f"hyperparameters[{name!r}]", name, "must be a name of letters, digits, _ or -"
            )
        value = hyperparameters[name]
        if isinstance(value, bool | dict | list) or value is None:
            raise SpecError(f"hyperparameters[{name!r}]", value, "must be a number or a string")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise SpecError(f"hyperparameters[{name!r}]", value, "must be a finite number")
            if value.is_integer():
                value = int(value)
        args.append(f"--{name}={value}")
    return args


def _strings(field_name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise SpecError(field_name, value, "must be a list of strings")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise SpecError(f"{field_name}[{i}]", item, "must be a string")
        out.append(str(item))
    return tuple(out)


@dataclass(frozen=True)
class Trainer:
    """What every replica of a training job runs (the pipelines' trainer parameters)."""

    trainer_image: str = ""
    trainer_command: Sequence[str] = ()
    trainer_args: Sequence[str] = ()
    package_uris: Sequence[str] = ()
    python_module: str = ""
    executor_image_uri: str = ""
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("trainer_command", "trainer_args", "package_uris"):
            object.__setattr__(self, name, _strings(name, getattr(self, name)))
        for name in ("trainer_image", "python_module", "executor_image_uri"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise SpecError(name, value, "must be a string")
            object.__setattr__(self, name, value.strip())
        if self.is_python_package:
            if self.trainer_command:
                raise SpecError(
                    "trainer_command",
                    list(self.trainer_command),
                    "must be empty for a Python package (Vertex runs "
                    f"`python -m {self.python_module}` on the executor image)",
                )
            if not self.package_uris:
                raise SpecError(
                    "package_uris",
                    [],
                    "must list the gs:// source distribution(s) holding python_module "
                    f"{self.python_module!r} (`vtp trainer package DIR` builds and stages one)",
                )
            check_executor_image(self.executor_image_uri)
        else:
            if self.package_uris or self.executor_image_uri:
                given = "package_uris" if self.package_uris else "executor_image_uri"
                raise SpecError(
                    "python_module",
                    "",
                    f"must name the module to run when {given} is set (a Python package "
                    "trainer runs as `python -m python_module`)",
                )
            if not self.trainer_image:
                raise SpecError(
                    "trainer_image",
                    self.trainer_image,
                    "must be a training container image (or set python_module, package_uris "
                    "and executor_image_uri for a Python package)",
                )

    @property
    def is_python_package(self) -> bool:
        return bool(self.python_module)

    @property
    def image(self) -> str:
        """The image the replicas run in: the trainer image or the executor image."""
        return self.executor_image_uri if self.is_python_package else self.trainer_image

    def describe(self) -> str:
        if self.is_python_package:
            return (
                f"Python package {', '.join(self.package_uris)} run as "
                f"`python -m {self.python_module}` on {self.executor_image_uri}"
            )
        command = " ".join(self.trainer_command) or "its ENTRYPOINT"
        return f"image {self.trainer_image} running {command}"

    def runnable(
        self,
        hyperparameters: Mapping[str, object] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ContainerSpec | PythonPackageSpec:
        """The pool's `container_spec` or `python_package_spec`: `trainer_args`, then the
        hyperparameters as `--<name>=<value>`; `env` added to the trainer's own."""
        args = (*self.trainer_args, *hyperparameter_args(hyperparameters or {}))
        environment = {**self.env, **(env or {})}
        if self.is_python_package:
            return PythonPackageSpec(
                executor_image_uri=self.executor_image_uri,
                package_uris=self.package_uris,
                python_module=self.python_module,
                args=args,
                env=environment,
            )
        return ContainerSpec(
            image_uri=self.trainer_image,
            command=self.trainer_command,
            args=args,
            env=environment,
        )


def trainer_from_values(values: Mapping[str, object]) -> Trainer:
    """The `Trainer` of a pipeline's (or a component's) parameter values."""
    return Trainer(
        trainer_image=values.get("trainer_image", "") or "",
        trainer_command=values.get("trainer_command") or (),
        trainer_args=values.get("trainer_args") or (),
        package_uris=values.get("package_uris") or (),
        python_module=values.get("python_module", "") or "",
        executor_image_uri=values.get("executor_image_uri", "") or "",
    )
