"""The reference training job as a typed payload: one function, used at build time and in the
`training_job_spec` component, so the same validation runs before a run and inside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vtp.components.specs import (
    ContainerSpec,
    CustomJobSpec,
    MachineSpec,
    Scheduling,
    WorkerPoolSpec,
)
from vtp.errors import SpecError

#: The module the reference trainer image runs (`python -m trainer.task`).
TRAINER_COMMAND = ("python", "-m", "trainer.task")


def hyperparameter_args(hyperparameters: Mapping[str, object]) -> list[str]:
    """`{"max_iter": 64}` -> `["--max-iter=64"]`, sorted, as a Vertex tuning trial passes them."""
    if not isinstance(hyperparameters, Mapping):
        raise SpecError(
            "hyperparameters", hyperparameters, "must be a mapping of name -> number or string"
        )
    args = []
    for name in sorted(hyperparameters):
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise SpecError(
                f"hyperparameters[{name!r}]", name, "must be a name of letters, digits, _ or -"
            )
        value = hyperparameters[name]
        if isinstance(value, bool | dict | list) or value is None:
            raise SpecError(f"hyperparameters[{name!r}]", value, "must be a number or a string")
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # integers come back from KFP as floats: print them as integers
        args.append(f"--{name.replace('_', '-')}={value}")
    return args


def training_job(
    *,
    trainer_image: str,
    machine_type: str,
    accelerator_type: str = "",
    accelerator_count: int = 0,
    trainer_command: Sequence[str] = TRAINER_COMMAND,
    trainer_args: Sequence[str] = (),
    hyperparameters: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    base_output_directory: str = "",
    timeout: str = "86400s",
    strategy: str = "STANDARD",
) -> CustomJobSpec:
    """The single-replica custom job that runs the trainer image."""
    container = ContainerSpec(
        image_uri=trainer_image,
        command=tuple(trainer_command),
        args=(*trainer_args, *hyperparameter_args(hyperparameters or {})),
        env=dict(env or {}),
    )
    machine = MachineSpec(
        machine_type=machine_type,
        accelerator_type=accelerator_type or None,
        accelerator_count=int(accelerator_count),
    )
    return CustomJobSpec(
        primary=WorkerPoolSpec(machine_spec=machine, container_spec=container),
        scheduling=Scheduling(timeout=timeout, strategy=strategy),
        base_output_directory=base_output_directory,
    )
