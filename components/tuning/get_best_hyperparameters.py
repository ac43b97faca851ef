"""Component: the hyperparameters of the best trial of a tuning job."""

from vtp.components._component import vtp_component


@vtp_component
def get_best_hyperparameters(trials: list, study_spec_metrics: list) -> list:
    """The parameters of the best trial (chosen as by `get_best_trial`).

    Args:
        trials: Trials as `Trial.to_json` strings (or dicts), e.g. the output of `GetTrialsOp`.
        study_spec_metrics: The tuning job's metrics, as `HyperparameterTuningJobRunOp` takes
            them; the best trial is chosen by the first.

    Returns:
        `[{"parameterId": "learning_rate", "value": 0.01}, ...]`: the trial's own
        `parameters` list, as GCPC's former `GetBestHyperparametersOp` gave it (it returned the
        same objects as JSON strings). Numbers are doubles: an integer parameter is `64.0`.
        A list rather than a dict, so the order is the trial's and the shape is Vertex's.
    """
    from vtp.components.tuning.selection import hyperparameter_list, primary_metric
    from vtp.components.tuning.trials import best_trial

    best = best_trial(trials, primary_metric(study_spec_metrics))
    params = hyperparameter_list(best)
    shown = ", ".join(f"{p['parameterId']}={p['value']}" for p in params)
    print(f"best trial {best['id']}: {shown}")
    return params
