"""Component: the champion's model files as an `UnmanagedContainerModel`, so the same
evaluation step can measure it on the current test split."""

from google_cloud_pipeline_components.types.artifact_types import (
    UnmanagedContainerModel,
    VertexModel,
)
from kfp.dsl import Input, Output

from vtp.components._component import vtp_component


@vtp_component
def champion_model(champion: Input[VertexModel], model: Output[UnmanagedContainerModel]):
    """Points a model artifact at the champion version's files and serving container.

    Args:
        champion: The champion lookup's output (`metadata` `artifactUri`, `containerSpec`).
        model: The artifact: `uri` is the champion's `artifactUri`, metadata holds its
            `containerSpec`, as `unmanaged_container_model` writes them.
    """
    from vtp.components.models.lookup import ARTIFACT_URI_KEY, CONTAINER_SPEC_KEY, RESOURCE_NAME_KEY
    from vtp.errors import SpecError

    meta = champion.metadata or {}
    artifact_uri = str(meta.get(ARTIFACT_URI_KEY) or "")
    if not artifact_uri:
        raise SpecError(
            f"champion.metadata.{ARTIFACT_URI_KEY}",
            meta.get(ARTIFACT_URI_KEY),
            f"must name the model files of {meta.get(RESOURCE_NAME_KEY) or 'the champion'} "
            "(only a found champion has them: gate this step on the lookup's 'found')",
        )
    model.uri = artifact_uri.rstrip("/")
    model.metadata[CONTAINER_SPEC_KEY] = dict(meta.get(CONTAINER_SPEC_KEY) or {})
    print(f"champion model files: {model.uri}")
