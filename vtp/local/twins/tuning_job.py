"""Local twin of GCPC `v1.hyperparameter_tuning_job.HyperparameterTuningJobRunOp`."""

from kfp import dsl

from vtp.components._component import vtp_component


# The signature mirrors GCPC's op input for input (a contract test holds them equal). `project`
# defaults to a plain value where GCPC uses a `{{$.pipeline_google_cloud_project_id}}`
# placeholder, which kfp.local cannot resolve.
@vtp_component
def hyperparameter_tuning_job(
    display_name: str,
    base_output_directory: str,
    worker_pool_specs: list,
    study_spec_metrics: list,
    study_spec_parameters: list,
    max_trial_count: int,
    parallel_trial_count: int,
    gcp_resources: dsl.OutputPath(str),
    max_failed_trial_count: int = 0,
    location: str = "us-central1",
    study_spec_algorithm: str = "ALGORITHM_UNSPECIFIED",
    study_spec_measurement_selection_type: str = "BEST_MEASUREMENT",
    encryption_spec_key_name: str = "",
    service_account: str = "",
    network: str = "",
    project: str = "local-project",
):
    """Runs a Vertex hyperparameter tuning job on this machine, trials as local processes.

    Optuna suggests the trials (TPE for the default Bayesian algorithm, random, or grid);
    each trial is the trial job run as a local custom job with the Vertex trial contract
    (`--<parameter_id>=<value>` arguments, `<base>/<trial_id>/model/`, `CLOUD_ML_TRIAL_ID`,
    cloudml-hypertune metrics). Trials are recorded under `$VTP_HOME/tuning/<job_id>/` in
    Vertex's Trial JSON shape (read them with `GetTrialsOp`). Inputs as in
    `HyperparameterTuningJobRunOp`; network, service account and encryption settings are
    validated and recorded, not applied.
    """
    from vtp.local.twins.tuning_job_runtime import run_tuning_job_twin

    run_tuning_job_twin(
        gcp_resources_path=gcp_resources,
        project=project,
        location=location,
        payload={
            "display_name": display_name,
            "study_spec": {
                "metrics": study_spec_metrics,
                "parameters": study_spec_parameters,
                "algorithm": study_spec_algorithm,
                "measurement_selection_type": study_spec_measurement_selection_type,
            },
            "max_trial_count": max_trial_count,
            "parallel_trial_count": parallel_trial_count,
            "max_failed_trial_count": max_failed_trial_count,
            "trial_job_spec": {
                "worker_pool_specs": worker_pool_specs,
                "service_account": service_account,
                "network": network,
                "base_output_directory": {"output_uri_prefix": base_output_directory},
            },
            "encryption_spec": {"kms_key_name": encryption_spec_key_name},
        },
    )
