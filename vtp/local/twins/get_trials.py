"""Local twin of GetTrialsOp: the trials a local tuning job recorded."""

from vtp.components._component import vtp_component


@vtp_component
def get_trials(gcp_resources: str) -> list[str]:
    """Reads the trials of a local hyperparameter tuning job.

    Args:
        gcp_resources: The `gcp_resources` output of the local `HyperparameterTuningJobRunOp`.

    Returns:
        Every finished trial as JSON, in the shape `aiplatform_v1.Trial.to_json` gives, read
        from `$VTP_HOME/tuning/<job_id>/trials.json`.
    """
    from vtp.local.twins.tuning_job_runtime import local_trials

    return local_trials(gcp_resources)
