"""The training job as a typed payload: one function, used at build time and in the
`training_job_spec` component, so the same validation runs before a run and inside it."""

from __future__ import annotations

from collections.abc import Mapping

from vtp.components.specs import CustomJobSpec, MachineSpec, Scheduling, WorkerPoolSpec
from vtp.components.training.trainer import Trainer, hyperparameter_args

__all__ = ["Trainer", "hyperparameter_args", "training_job"]


def training_job(
    *,
    trainer: Trainer,
    machine_type: str,
    accelerator_type: str = "",
    accelerator_count: int = 0,
    hyperparameters: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    base_output_directory: str = "",
    timeout: str = "86400s",
    strategy: str = "STANDARD",
) -> CustomJobSpec:
    """The single-replica custom job that runs `trainer`."""
    machine = MachineSpec(
        machine_type=machine_type,
        accelerator_type=accelerator_type or None,
        accelerator_count=int(accelerator_count),
    )
    runnable = trainer.runnable(hyperparameters, env)
    pool = (
        WorkerPoolSpec(machine_spec=machine, python_package_spec=runnable)
        if trainer.is_python_package
        else WorkerPoolSpec(machine_spec=machine, container_spec=runnable)
    )
    return CustomJobSpec(
        primary=pool,
        scheduling=Scheduling(timeout=timeout, strategy=strategy),
        base_output_directory=base_output_directory,
    )
