"""Job scheduling: timeout, restarts, provisioning strategy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vtp.components.specs._validate import check_bool, check_choice, duration
from vtp.errors import SpecError

#: `google.cloud.aiplatform_v1.types.Scheduling.Strategy` names (ON_DEMAND and LOW_COST are
#: deprecated aliases; STRATEGY_UNSPECIFIED means STANDARD). A test keeps this equal to the enum.
STRATEGIES: tuple[str, ...] = (
    "STANDARD",
    "SPOT",
    "FLEX_START",
    "ON_DEMAND",
    "LOW_COST",
    "STRATEGY_UNSPECIFIED",
)

#: Vertex's (and GCPC's) default timeout: 7 days.
DEFAULT_TIMEOUT = "604800s"


@dataclass(frozen=True)
class Scheduling:
    """Scheduling of a custom job.

    Durations accept a protobuf Duration string (`"3600s"`, `"3.5s"`), a `timedelta` or int
    seconds and are stored as the string. `max_wait_duration` (0 = wait forever) applies to
    FLEX_START only: GCPC's launcher drops it otherwise, so setting it with another strategy is
    refused.
    """

    timeout: str | int | timedelta = DEFAULT_TIMEOUT
    restart_job_on_worker_restart: bool = False
    strategy: str = "STANDARD"
    max_wait_duration: str | int | timedelta | None = None
    disable_retries: bool = False

    def __post_init__(self) -> None:
        root = "scheduling"
        object.__setattr__(
            self, "timeout", duration(f"{root}.timeout", self.timeout, allow_zero=False)
        )
        check_bool(f"{root}.restart_job_on_worker_restart", self.restart_job_on_worker_restart)
        strategy = check_choice(f"{root}.strategy", self.strategy, STRATEGIES)
        if self.max_wait_duration is not None:
            wait = duration(f"{root}.max_wait_duration", self.max_wait_duration, allow_zero=True)
            if strategy != "FLEX_START":
                raise SpecError(
                    f"{root}.max_wait_duration",
                    wait,
                    f"must be unset unless strategy is FLEX_START (strategy is {strategy})",
                )
            object.__setattr__(self, "max_wait_duration", wait)
        check_bool(f"{root}.disable_retries", self.disable_retries)

    def to_dict(self) -> dict[str, Any]:
        """The proto JSON dict (snake_case); `max_wait_duration` and `disable_retries` only
        when set."""
        out: dict[str, Any] = {
            "timeout": self.timeout,
            "restart_job_on_worker_restart": self.restart_job_on_worker_restart,
            "strategy": self.strategy,
        }
        if self.max_wait_duration is not None:
            out["max_wait_duration"] = self.max_wait_duration
        if self.disable_retries:
            out["disable_retries"] = True
        return out
