"""Champion/challenger: which model should serve, and the version aliases that say so.

The champion is the registered version holding the looked-up alias (`default` unless told
otherwise); the challenger is the model just trained. Both are measured on the same (current)
test split before they are compared.

Rules of `decide`:

- No champion (`champion_found == "none"`): the challenger wins, whatever its value; keep a
  weak or NaN first model out with `metric_gate` before the upload.
- A NaN challenger loses; a NaN champion (it could not be measured) loses to any number.
- Otherwise the challenger must beat the champion by more than `min_improvement` in the
  direction of `goal`; a tie (or a smaller gain) keeps the champion.

Aliases (`upload_aliases`): the winning challenger is uploaded as a new version with
`["default", "champion"]`, which moves both aliases to it (the registry and Vertex's
UploadModel API move an alias that is listed). A losing challenger is still uploaded, with
`["challenger"]` only, so it can be inspected and compared later while `default` and
`champion` stay where they are; `challenger` always names the latest loser.
"""

from __future__ import annotations

import math

from vtp.errors import SpecError

CHALLENGER = "challenger"
CHAMPION = "champion"
FOUND = "found"
NONE = "none"
GOALS = ("maximize", "minimize")

WINNER_ALIASES = ("default", "champion")
LOSER_ALIASES = ("challenger",)


def decide(
    challenger_value: float,
    champion_value: float,
    champion_found: str,
    goal: str = "maximize",
    min_improvement: float = 0.0,
) -> str:
    """`challenger` when the new model should replace the champion, else `champion`.

    Raises:
        SpecError: for an unknown `champion_found` or `goal`, or a negative or non-finite
            `min_improvement`.
    """
    found = champion_found.strip().lower() if isinstance(champion_found, str) else champion_found
    if found not in (FOUND, NONE):
        raise SpecError("champion_found", champion_found, f"must be {FOUND!r} or {NONE!r}")
    goal_key = goal.strip().lower() if isinstance(goal, str) else goal
    if goal_key not in GOALS:
        raise SpecError("goal", goal, f"must be one of {', '.join(GOALS)}")
    if (
        isinstance(min_improvement, bool)
        or not isinstance(min_improvement, int | float)
        or not math.isfinite(min_improvement)
        or min_improvement < 0
    ):
        raise SpecError("min_improvement", min_improvement, "must be a finite number >= 0")
    if found == NONE:
        return CHALLENGER
    if math.isnan(challenger_value):
        return CHAMPION
    if math.isnan(champion_value):
        return CHALLENGER
    gain = challenger_value - champion_value
    if goal_key == "minimize":
        gain = -gain
    return CHALLENGER if gain > min_improvement else CHAMPION


def explain(
    decision: str,
    challenger_value: float,
    champion_value: float,
    champion_found: str,
    goal: str,
    min_improvement: float,
) -> str:
    """One line saying why `decision` was taken."""
    if champion_found.strip().lower() == NONE:
        return f"no champion registered: the challenger ({challenger_value:.6g}) wins"
    margin = f" by more than {min_improvement:.6g}" if min_improvement else ""
    verb = "beats" if decision == CHALLENGER else "does not beat"
    return (
        f"challenger {challenger_value:.6g} {verb} champion {champion_value:.6g}{margin} "
        f"({goal.strip().lower()}): {decision} wins"
    )


def upload_aliases(decision: str) -> list[str]:
    """The `version_aliases` to upload the challenger with (see the module docstring).

    Raises:
        SpecError: for a decision other than `challenger` or `champion`.
    """
    if decision == CHALLENGER:
        return list(WINNER_ALIASES)
    if decision == CHAMPION:
        return list(LOSER_ALIASES)
    raise SpecError("decision", decision, f"must be {CHALLENGER!r} or {CHAMPION!r}")
