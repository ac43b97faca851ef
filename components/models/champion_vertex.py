"""Component: the champion lookup on Vertex AI (Model Registry API)."""

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
    """Finds the version of the model called `model_display_name` that holds `alias`
    (in a local run, in the local model registry of vtp's home).

    Args:
        project: Project of the Model Registry.
        location: Region of the Model Registry.
        model_display_name: The model's display name; more than one model with it is an error.
        champion: When found: `uri` and `metadata` `resourceName`
            (`projects/P/locations/L/models/ID@VERSION`, usable as `ModelUploadOp`'s
            `parent_model`), `artifactUri` and `containerSpec` of that version.
        alias: The version alias (or a version id) naming the champion.

    Returns:
        `found`, or `none` when no model has that display name. A model without a version
        holding `alias` is an error (uploading anew would duplicate the display name).
    """
    from vtp.components.models.lookup import (
        FOUND,
        NONE,
        check_lookup,
        versioned_name,
        write_champion,
    )
    from vtp.home import local_run_home

    check_lookup(project, location, model_display_name, alias)
    if local_run_home() is not None:
        from vtp.local.twins.champion_lookup_runtime import find_local_version, local_model_uri

        model = find_local_version(project, location, model_display_name, alias)
        if model is None:
            print(f"no model named {model_display_name!r} in the local registry")
            return NONE
        write_champion(champion, model, local_model_uri(model))
        return FOUND
    from vtp.components.models.vertex_models import find_version, model_service_client, model_uri

    client = model_service_client(location)
    model = find_version(client, project, location, model_display_name, alias)
    if model is None:
        print(f"no model named {model_display_name!r} in projects/{project}/locations/{location}")
        return NONE
    write_champion(champion, model, model_uri(location, versioned_name(model)))
    return FOUND
