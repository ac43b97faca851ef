"""Local twin of the champion lookup (`components.models.champion_vertex.champion_lookup`)."""

from google_cloud_pipeline_components.types.artifact_types import VertexModel
from kfp.dsl import Output

from vtp.components._component import vtp_component


@vtp_component
def champion_lookup(
    project: str,
    location: str,
    model_display_name: str,
    champion: Output[VertexModel],
    alias: str = "default",
) -> str:
    """Finds the version of the model called `model_display_name` that holds `alias`, in
    the local model registry (`$VTP_HOME/registry.db`).

    Args:
        project: Project of the registry (the local project is `local-project`).
        location: Region of the registry.
        model_display_name: The model's display name; more than one model with it is an error.
        champion: When found: `uri` and `metadata` `resourceName`
            (`projects/P/locations/L/models/ID@VERSION`, usable as `ModelUploadOp`'s
            `parent_model`), `artifactUri` and `containerSpec` of that version.
        alias: The version alias (or a version id) naming the champion.

    Returns:
        `found`, or `none` when no model has that display name. A model without a version
        holding `alias` is an error (uploading anew would duplicate the display name).
    """
    from vtp.components.models.lookup import FOUND, NONE, check_lookup, write_champion
    from vtp.local.twins.champion_lookup_runtime import find_local_version, local_model_uri

    check_lookup(project, location, model_display_name, alias)
    model = find_local_version(project, location, model_display_name, alias)
    if model is None:
        print(
            f"no model named {model_display_name!r} in the local registry ({project}, {location})"
        )
        return NONE
    write_champion(champion, model, local_model_uri(model))
    return FOUND
