"""Local twin of GCPC `v1.model.ModelUploadOp`."""

from google_cloud_pipeline_components.types.artifact_types import (
    UnmanagedContainerModel,
    VertexModel,
)
from kfp import dsl
from kfp.dsl import Input, Output

from vtp.components._component import vtp_component


@vtp_component
def model_upload(
    display_name: str,
    gcp_resources: dsl.OutputPath(str),
    model: Output[VertexModel],
    location: str = "us-central1",
    description: str = "",
    parent_model: Input[VertexModel] = None,
    unmanaged_container_model: Input[UnmanagedContainerModel] = None,
    explanation_metadata: dict = {},
    explanation_parameters: dict = {},
    version_aliases: list = [],
    labels: dict = {},
    encryption_spec_key_name: str = "",
    project: str = "local-project",
):
    """Uploads a model (or a new version of `parent_model`) into the local model registry.

    Vertex's semantics: a new model gets version 1 and the `default` alias; with
    `parent_model` the upload is the next version and `default` moves to it. The upload
    either fully happens or leaves nothing behind. Inputs as in `ModelUploadOp`.
    """
    from vtp.local.twins.model_upload_runtime import upload_to_local_registry

    upload_to_local_registry(
        gcp_resources_path=gcp_resources,
        model=model,
        project=project,
        location=location,
        display_name=display_name,
        description=description,
        parent_model=parent_model,
        unmanaged_container_model=unmanaged_container_model,
        explanation_metadata=explanation_metadata,
        explanation_parameters=explanation_parameters,
        version_aliases=version_aliases,
        labels=labels,
        encryption_spec_key_name=encryption_spec_key_name,
    )
