"""The learning tasks vtp's pipelines handle and the one metric vocabulary they share.

The loader detects the task from the target column (or takes it from the `task` parameter),
the evaluator computes the metrics of that task, and `primary_metric` / `metric_goal` are
checked against it before training. The reference trainer keeps its own copy of these names
(it runs in its own image and imports nothing from vtp); a test holds the two equal.
"""

from __future__ import annotations

from vtp.errors import SpecError

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)
#: The `task` parameter's value that asks the loader to detect the task from the target.
AUTO = "auto"

#: Task -> metric name -> goal (True: higher is better).
METRICS: dict[str, dict[str, bool]] = {
    BINARY: {
        "auc": True,
        "accuracy": True,
        "precision": True,
        "recall": True,
        "f1": True,
        "log_loss": False,
    },
    MULTICLASS: {
        "accuracy": True,
        "f1_macro": True,
        "log_loss": False,
        "auc_ovr": True,
    },
    REGRESSION: {
        "rmse": False,
        "mae": False,
        "r2": True,
    },
}

#: The goal words of the `metric_goal` parameter.
GOALS = {"maximize": True, "minimize": False}


def check_task(task: str, field: str = "task", *, allow_auto: bool = True) -> str:
    """`task` if it names a task (or `auto` where allowed), else SpecError."""
    allowed = (AUTO, *TASKS) if allow_auto else TASKS
    if task not in allowed:
        raise SpecError(field, task, f"must be one of {', '.join(allowed)}")
    return task


def check_metric(
    task: str,
    metric: str,
    goal: str | None = None,
    *,
    metric_field: str = "primary_metric",
    goal_field: str = "metric_goal",
) -> None:
    """Fails unless `metric` is a metric of `task` and `goal` (when given) is its direction."""
    check_task(task, allow_auto=False)
    metrics = METRICS[task]
    if metric not in metrics:
        raise SpecError(
            metric_field, metric, f"must be a {task} metric: one of {', '.join(metrics)}"
        )
    if goal is None:
        return
    if goal not in GOALS:
        raise SpecError(goal_field, goal, f"must be one of {', '.join(GOALS)}")
    if GOALS[goal] != metrics[metric]:
        right = "maximize" if metrics[metric] else "minimize"
        raise SpecError(goal_field, goal, f"must be {right!r} for {metric} (a {task} metric)")


def default_metric(task: str) -> str:
    """The metric a pipeline compares when none is given: auc, f1_macro or rmse."""
    return {BINARY: "auc", MULTICLASS: "f1_macro", REGRESSION: "rmse"}[
        check_task(task, allow_auto=False)
    ]
