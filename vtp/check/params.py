"""Parameter checks shared by the pipelines' `check_params` (run before anything starts)."""

from __future__ import annotations

from vtp.components.data.splitting import check_fractions
from vtp.components.models.gating import check_goal


def check_split_and_goal(values: dict) -> None:
    """The split fractions sum to 1 and `metric_goal` is maximize or minimize."""
    check_fractions(
        (values["train_fraction"], values["validation_fraction"], values["test_fraction"])
    )
    check_goal(values["metric_goal"], "metric_goal")
