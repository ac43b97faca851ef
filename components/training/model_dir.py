"""Component: the model directory a finished training job wrote, checked."""

from vtp.components._component import vtp_component


@vtp_component
def checked_model_dir(model_dir: str, serving_image: str = "") -> str:
    """Fails unless `model_dir` holds model files (and, for a Vertex prebuilt serving image,
    the file it loads); returns `model_dir`. Run it `.after()` the job that writes it."""
    from vtp.components.models.container import check_model_dir

    print(check_model_dir(model_dir, serving_image))
    print(f"model directory {model_dir} is complete")
    return model_dir
