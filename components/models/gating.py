"""The threshold rule behind `metric_gate`."""

from __future__ import annotations

import math

from vtp.errors import SpecError

GOALS = ("maximize", "minimize")


def check_goal(goal: str, field: str = "goal") -> str:
    """`goal` normalised to `maximize` / `minimize`; anything else is a SpecError on `field`."""
    goal_key = goal.strip().lower()
    if goal_key not in GOALS:
        raise SpecError(field, goal, f"must be one of {', '.join(GOALS)}")
    return goal_key


def gate(value: float, threshold: float, goal: str = "maximize") -> str:
    """`pass` when `value` meets `threshold` in the direction of `goal`, else `fail`."""
    goal_key = check_goal(goal)
    if math.isnan(value):
        verdict = "fail"
    elif goal_key == "maximize":
        verdict = "pass" if value >= threshold else "fail"
    else:
        verdict = "pass" if value <= threshold else "fail"
    sign = ">=" if goal_key == "maximize" else "<="
    print(f"gate: {value:.6g} {sign} {threshold:.6g} ? {verdict}")
    return verdict
