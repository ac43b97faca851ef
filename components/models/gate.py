"""Component: is a metric beyond its threshold? A string answer, so a condition on it is a
plain string equality: the goal direction and NaN handling live in one tested function rather
than in a CEL expression of each pipeline."""

from vtp.components._component import vtp_component

PASS = "pass"
FAIL = "fail"


@vtp_component
def metric_gate(value: float, threshold: float, goal: str = "maximize") -> str:
    """Compares a metric with its threshold.

    Args:
        value: The metric.
        threshold: The bar: `value >= threshold` passes when maximizing, `<=` when minimizing.
        goal: `maximize` or `minimize`.

    Returns:
        `pass` or `fail`; gate downstream steps with `dsl.If(gate.output == "pass")`.
    """
    from vtp.components.models.gating import gate

    return gate(value, threshold, goal)
