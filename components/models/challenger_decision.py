"""Components: champion or challenger, and the aliases to upload the challenger with.

Both return a single value, so `dsl.If(task.output == "challenger")` is a plain string equality,
the same on Vertex and locally.
"""

from vtp.components._component import vtp_component


@vtp_component
def challenger_decision(
    challenger_value: float,
    champion_value: float,
    champion_found: str,
    goal: str = "maximize",
    min_improvement: float = 0.0,
) -> str:
    """Decides whether the new model replaces the registered champion.

    Args:
        challenger_value: The new model's metric on the test split.
        champion_value: The champion's metric on the same split (ignored without a champion).
        champion_found: `found` or `none`, the champion lookup's output.
        goal: `maximize` or `minimize`.
        min_improvement: How much the challenger must beat the champion by (>= 0).

    Returns:
        `challenger` or `champion`. Without a champion the challenger wins; ties and NaN
        challengers go to the champion (`components.models.champion`).
    """
    from vtp.components.models.champion import decide, explain

    decision = decide(challenger_value, champion_value, champion_found, goal, min_improvement)
    print(
        explain(decision, challenger_value, champion_value, champion_found, goal, min_improvement)
    )
    return decision


@vtp_component
def decision_aliases(decision: str) -> list:
    """The `version_aliases` for uploading the challenger (`ModelUploadOp`).

    Args:
        decision: `challenger_decision`'s output.

    Returns:
        `["default", "champion"]` when the challenger won (both aliases move to it),
        `["challenger"]` when it lost (`default` stays with the champion).
    """
    from vtp.components.models.champion import upload_aliases

    aliases = upload_aliases(decision)
    print(f"{decision} wins: the challenger is uploaded with aliases {aliases}")
    return aliases
