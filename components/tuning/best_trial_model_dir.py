"""Component: where the best trial wrote its model."""

from vtp.components._component import vtp_component


@vtp_component
def best_trial_model_dir(best_trial: str, base_output_directory: str) -> str:
    """The best trial's `AIP_MODEL_DIR`.

    Args:
        best_trial: The trial JSON from `get_best_trial`.
        base_output_directory: The tuning job's `base_output_directory`.

    Returns:
        `<base_output_directory>/<trial_id>/model/`.
    """
    from vtp.components.tuning.selection import trial_model_dir
    from vtp.components.tuning.trials import parse_trial

    model_dir = trial_model_dir(base_output_directory, parse_trial(best_trial)["id"])
    print(f"best trial model: {model_dir}")
    return model_dir
