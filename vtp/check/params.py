"""Parameter checks shared by the pipelines' `check_params` (run before anything starts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vtp.components.data.splitting import check_data_format, check_fractions
from vtp.components.evaluation.tasks import AUTO, check_metric, check_task
from vtp.components.models.gating import check_goal
from vtp.components.training.trainer import Trainer, trainer_from_values
from vtp.errors import SpecError

#: Trainer flags that restate a pipeline parameter: when `trainer_args` passes one, its value
#: must agree with the parameter the evaluator uses (else the two steps see different data).
FLAG_PARAMETERS = {
    "--target-column": "target_column",
    "--exclude-columns": "exclude_columns",
}


def check_split_and_goal(values: Mapping) -> None:
    """The split fractions sum to 1, `metric_goal` is maximize or minimize and `data_format`
    is one the loader writes."""
    check_fractions(
        (values["train_fraction"], values["validation_fraction"], values["test_fraction"])
    )
    check_goal(values["metric_goal"], "metric_goal")
    if "data_format" in values:
        check_data_format(values["data_format"])


def check_task_and_metric(values: Mapping) -> None:
    """When `task` is given (not `auto`), `primary_metric` must be one of its metrics and
    `metric_goal` that metric's direction. With `auto`, the loader checks the same once it has
    detected the task, before training."""
    task = check_task(values.get("task", AUTO))
    if task != AUTO:
        check_metric(task, values["primary_metric"], values.get("metric_goal"))


def flag_values(args: Sequence[str], flag: str) -> list[str]:
    """Every value `args` gives `flag` (`--flag=v`, `--flag v`; `_` and `-` alike)."""
    names = {flag, flag.replace("-", "_")}
    names |= {"--" + n[2:].replace("-", "_") for n in names}
    found = []
    args = list(args)
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in names:
            if eq:
                found.append(value)
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                found.append(args[i + 1])
    return found


def check_trainer(values: Mapping, extra_flags: Mapping[str, str] | None = None) -> Trainer:
    """The pipeline's trainer, checked: its form (image or Python package, a prebuilt executor
    image) and its flags that restate pipeline parameters (`--target-column`...)."""
    trainer = trainer_from_values(values)
    for flag, param in {**FLAG_PARAMETERS, **(extra_flags or {})}.items():
        if param not in values:
            continue
        expected = str(values[param])
        for given in flag_values(trainer.trainer_args, flag):
            if _normalised(flag, given) != _normalised(flag, expected):
                raise SpecError(
                    "trainer_args",
                    list(trainer.trainer_args),
                    f"must agree with {param}={expected!r}: it passes {flag}={given} to the "
                    f"trainer (set both, e.g. trainer_args with {flag}={expected})",
                )
    return trainer


def _normalised(flag: str, value: str) -> str:
    if flag == "--exclude-columns":
        return ",".join(sorted(c.strip() for c in value.split(",") if c.strip()))
    return value.strip()
