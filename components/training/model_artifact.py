"""Component: the `UnmanagedContainerModel` artifact that `ModelUploadOp` consumes."""

from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
from kfp.dsl import Output

from vtp.components._component import vtp_component


@vtp_component
def unmanaged_container_model(
    model_dir: str,
    serving_image: str,
    model: Output[UnmanagedContainerModel],
    predict_route: str = "",
    health_route: str = "",
    serving_port: int = 0,
):
    """Points a model artifact at a trained model directory, with its serving container.

    Refuses (before any upload, on Vertex and locally) a model whose `model_metadata.json`
    records a framework version other than the one its prebuilt serving image holds.

    Args:
        model_dir: Directory holding the model files (`AIP_MODEL_DIR` of the training job).
        serving_image: Prediction container image (`containerSpec.imageUri`).
        model: The artifact: `uri` is `model_dir`, metadata holds `containerSpec`.
        predict_route: HTTP path for predictions; empty keeps the container's default.
        health_route: HTTP path for health checks; empty keeps the container's default.
        serving_port: Port the container listens on; 0 keeps the default (8080).
    """
    from vtp.components.models.container import check_model_dir, container_spec

    print(check_model_dir(model_dir, serving_image))  # refuses a framework version mismatch
    model.uri = model_dir.rstrip("/")
    model.metadata["containerSpec"] = container_spec(
        serving_image, predict_route=predict_route, health_route=health_route, port=serving_port
    )
    print(f"model artifact: {model.uri} served by {serving_image}")
