"""Component: does a trial's primary metric meet a threshold? A single string answer, so a
`dsl.If` on it is a plain string equality (see `vtp.components.models.gate`)."""

from vtp.components._component import vtp_component


@vtp_component
def is_metric_beyond_threshold(trial: str, study_spec_metrics: list, threshold: float) -> str:
    """Compares the trial's primary metric with a threshold, in the metric's goal direction.

    Args:
        trial: A trial JSON, e.g. from `get_best_trial`.
        study_spec_metrics: The tuning job's metrics; the first one is compared.
        threshold: `value >= threshold` passes for MAXIMIZE, `value <= threshold` for MINIMIZE.

    Returns:
        `pass` or `fail` (a trial without a value of the metric fails); gate downstream
        steps with `dsl.If(task.output == "pass")`.
    """
    from vtp.components.models.gating import gate
    from vtp.components.tuning.selection import primary_metric, trial_metric_value
    from vtp.components.tuning.trials import parse_trial

    metric_id, goal = primary_metric(study_spec_metrics)
    value = trial_metric_value(trial, metric_id)
    print(f"trial {parse_trial(trial)['id']}, metric {metric_id} ({goal.lower()})")
    return gate(value, threshold, goal.lower())
