"""Before a local run starts: can this machine run the pipeline's trainer as Vertex would?

An image with its own ENTRYPOINT needs a local mapping (or the docker runtime); a Python
package must exist in the local Cloud Storage root, and its cached environment is built here,
up front, so the first step does not wait for it and a package that does not install fails
before anything runs. Nothing is ever run in place of the trainer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from vtp.components.training.trainer import Trainer, trainer_from_values
from vtp.errors import JobError

TRAINER_PARAMETERS = ("trainer_image", "python_module")


def local_trainer(values: Mapping) -> Trainer | None:
    """The trainer a pipeline's values describe, None for a pipeline without one."""
    if not any(name in values for name in TRAINER_PARAMETERS):
        return None
    return trainer_from_values(values)


def check_local_trainer(
    values: Mapping,
    *,
    runtime: str,
    gcs_root: Path,
    envs_root: Path,
    log: Callable[[str], None] = print,
) -> Trainer | None:
    """Fails (JobError, naming the image or package and the ways out) unless the trainer can
    run here; builds a Python package's environment.

    Returns the trainer checked, None for a pipeline without one.
    """
    from vtp.local._commands import find_image_command, image_commands_from_env
    from vtp.local._commands import unmapped_image_error as unmapped
    from vtp.local.docker_runtime import DOCKER
    from vtp.local.replica_env import rewrite_gcs
    from vtp.local.trainer_envs import ensure_env

    trainer = local_trainer(values)
    if trainer is None:
        return None
    if trainer.is_python_package:
        files = []
        for uri in trainer.package_uris:
            path = Path(rewrite_gcs(uri, gcs_root))
            if not path.is_file():
                raise JobError(
                    f"package_uris: {uri} is not in the local Cloud Storage root (looked at "
                    f"{path}): stage it with `vtp trainer package DIR` (or run with "
                    "--trainer DIR)"
                )
            files.append(path)
        if runtime != DOCKER:
            env = ensure_env(files, envs_root, module=trainer.python_module, log=log)
            state = f"built in {env.seconds:.1f} s" if env.built else "cached"
            log(f"trainer environment {env.key} {state}")
        return trainer
    if trainer.trainer_command or runtime == DOCKER:
        return trainer
    if find_image_command(trainer.trainer_image, image_commands_from_env()) is None:
        raise unmapped(trainer.trainer_image, "trainer_image")
    return trainer


def reference_default_notice(values: Mapping, defaults: Mapping, trainer: Trainer) -> str:
    """A notice when a trainer other than the reference one gets the reference trainer's
    default arguments or search space (which it most likely does not take), else ''."""
    from vtp.local._commands import BUILTIN, find_image_command

    if not trainer.is_python_package:
        mapped = find_image_command(trainer.trainer_image, {})
        if mapped is not None and mapped.source == BUILTIN:
            return ""
    kept = [
        name
        for name in ("trainer_args", "hyperparameters", "study_spec_parameters")
        if name in values and name in defaults and values[name] == defaults[name] and values[name]
    ]
    if not kept:
        return ""
    return (
        f"notice: {', '.join(kept)} are the reference trainer's defaults, and the trainer is "
        f"{trainer.describe()}: set them for your trainer if it does not take them (e.g. "
        "--param 'trainer_args=[]')"
    )
