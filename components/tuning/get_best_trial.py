"""Component: the best trial of a tuning job."""

from vtp.components._component import vtp_component


@vtp_component
def get_best_trial(trials: list, study_spec_metrics: list) -> str:
    """Picks the SUCCEEDED trial with the best value of the primary metric.

    Trials in another state (INFEASIBLE, ACTIVE...) or without a value of the metric are
    skipped; of equal values, the lowest trial id wins.

    Args:
        trials: Trials as `Trial.to_json` strings (or dicts), e.g. the output of `GetTrialsOp`.
        study_spec_metrics: The tuning job's metrics, as `HyperparameterTuningJobRunOp` takes
            them (`[{"metric_id": "auc", "goal": 1}]`); the best trial is chosen by the first.

    Returns:
        The best trial as compact `Trial.to_json` JSON (camelCase keys).

    Raises:
        NoSucceededTrialError: no trial succeeded with a value of the metric; the message
            counts the trials by state.
    """
    import json

    from vtp.components.tuning.selection import primary_metric
    from vtp.components.tuning.trials import best_trial, trial_metrics

    metric_id, goal = primary_metric(study_spec_metrics)
    best = best_trial(trials, (metric_id, goal))
    value = trial_metrics(best)[metric_id]
    print(f"best of {len(trials)} trials: {best['id']} ({metric_id} = {value:.6g}, {goal.lower()})")
    return json.dumps(best, separators=(",", ":"))
