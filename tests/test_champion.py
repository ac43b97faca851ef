"""Champion lookup (in a local run: the local registry; on Vertex: the Model Registry API),
challenger decision, aliases.

The local lookup runs against a real SQLite registry under `VTP_HOME` (with `VTP_GCS_ROOT`
set, as the local orchestrator sets both for every step). Vertex cannot be
reached from tests, so the Vertex path runs the real `ModelServiceClient` (REST transport)
against the loopback Vertex AI stand-in (`tests/standins/vertex_api.py`), seeded with model
versions; what it proves is the request building and response handling.
"""

import json
import math

import pytest
from google.auth.credentials import AnonymousCredentials
from google_cloud_pipeline_components.types.artifact_types import (
    UnmanagedContainerModel,
    VertexModel,
)
from standins.vertex_api import VertexStandIn
from support.launchers import upload_args, uploaded_model

from vtp.components.models import champion_vertex
from vtp.components.models.challenger_decision import challenger_decision, decision_aliases
from vtp.components.models.champion import decide, upload_aliases
from vtp.components.models.champion_model import champion_model
from vtp.components.models.lookup import check_lookup, write_champion
from vtp.components.models.vertex_models import (
    api_endpoint,
    display_name_filter,
    find_version,
    list_models_request,
    model_service_client,
    model_uri,
)
from vtp.errors import RegistryError, SpecError
from vtp.local.registry import default_registry
from vtp.local.twins.model_upload_runtime import upload_from_launcher

PROJECT, LOCATION = "local-project", "us-central1"
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"


def _upload(home, name="clf", parent=None, aliases=(), default=True, uri="gs://b/m1"):
    registry = default_registry(home)
    return registry.upload(
        display_name=name,
        artifact_uri=uri,
        container_spec={"imageUri": IMAGE},
        parent_model=parent,
        version_aliases=list(aliases),
        is_default_version=default,
    )


@pytest.fixture
def home(home, monkeypatch):
    """A vtp home, with the environment a step of a local run sees."""
    monkeypatch.setenv("VTP_GCS_ROOT", str(home / "gcs"))
    return home


def _lookup(tmp_path, name="clf", alias="default", project=PROJECT):
    artifact = VertexModel(name="champion", uri=str(tmp_path / "champion"), metadata={})
    found = champion_vertex.champion_lookup.python_func(
        project=project,
        location=LOCATION,
        model_display_name=name,
        champion=artifact,
        alias=alias,
    )
    return found, artifact


# --- local lookup -------------------------------------------------------------------------------


def test_no_registry_and_no_such_model_mean_none(home, tmp_path):
    assert _lookup(tmp_path)[0] == "none"
    _upload(home, name="other")
    found, artifact = _lookup(tmp_path)
    assert found == "none" and artifact.metadata == {}
    assert _lookup(tmp_path, name="other", project="another-project")[0] == "none"


def test_found_default_is_the_version_holding_default(home, tmp_path):
    first = _upload(home)
    second = _upload(home, parent=first.model_resource_name, uri="gs://b/m2/")
    found, artifact = _lookup(tmp_path)
    assert found == "found"
    assert artifact.metadata["resourceName"] == second.resource_name
    assert second.resource_name.endswith("@2")
    assert artifact.uri == "vtp-local://" + second.resource_name
    assert artifact.metadata["artifactUri"] == "gs://b/m2/"
    assert artifact.metadata["containerSpec"] == {"imageUri": IMAGE}
    json.dumps(artifact.metadata)


def test_found_by_another_alias_or_a_version_id(home, tmp_path):
    first = _upload(home, aliases=["champion"])
    _upload(home, parent=first.model_resource_name, uri="gs://b/m2")
    found, artifact = _lookup(tmp_path, alias="champion")
    assert found == "found" and artifact.metadata["resourceName"] == first.resource_name
    assert artifact.metadata["artifactUri"] == "gs://b/m1"
    assert _lookup(tmp_path, alias="1")[1].metadata["resourceName"] == first.resource_name


def test_a_model_without_the_alias_is_an_error_not_none(home, tmp_path):
    model = _upload(home)
    with pytest.raises(RegistryError, match=r"has no version with alias 'champion'.*default"):
        _lookup(tmp_path, alias="champion")
    with pytest.raises(RegistryError, match=f"model {model.model_resource_name} has no version"):
        _lookup(tmp_path, alias="gold")


def test_an_ambiguous_display_name_lists_the_models(home, tmp_path):
    one, two = _upload(home), _upload(home)
    with pytest.raises(RegistryError, match="'clf' is ambiguous: 2 models") as err:
        _lookup(tmp_path)
    assert one.model_resource_name in str(err.value)
    assert two.model_resource_name in str(err.value)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("model_display_name", {"model_display_name": " "}),
        ("project", {"project": ""}),
        ("alias", {"alias": "Champion"}),
        ("alias", {"alias": "a"}),
    ],
)
def test_lookup_inputs_are_checked(field, kwargs):
    args = {"project": PROJECT, "location": LOCATION, "model_display_name": "clf"}
    args["alias"] = "default"
    args.update(kwargs)
    with pytest.raises(SpecError, match=f"^{field} "):
        check_lookup(**args)


def test_the_lookup_has_a_single_output_string_next_to_the_artifact():
    spec = champion_vertex.champion_lookup.component_spec
    assert {k: v.type for k, v in spec.outputs.items()} == {
        "champion": "google.VertexModel@0.0.1",
        "Output": "String",
    }
    assert (spec.inputs["alias"].type, spec.inputs["alias"].default) == ("String", "default")


# --- the champion, uploaded upon and measured again ---------------------------------------------


def test_found_champion_is_a_parent_model_and_a_model_to_evaluate(home, tmp_path):
    first = _upload(home, aliases=["champion"])
    found, champion = _lookup(tmp_path)
    assert found == "found"
    model = UnmanagedContainerModel(name="model", uri=str(tmp_path / "m"), metadata={})
    champion_model.python_func(champion=champion, model=model)
    assert model.uri == "gs://b/m1" and model.metadata == {"containerSpec": {"imageUri": IMAGE}}

    decision = challenger_decision.python_func(
        challenger_value=0.97, champion_value=0.95, champion_found=found
    )
    aliases = decision_aliases.python_func(decision=decision)
    work = tmp_path / "upload"
    upload_from_launcher(
        **upload_args(
            work,
            display_name="clf",
            model_uri="gs://b/m2",
            container_spec={"imageUri": IMAGE},
            parent_model_name=champion.metadata["resourceName"],
            version_aliases=aliases,
        )
    )
    uploaded = uploaded_model(work)
    assert uploaded["metadata"]["resourceName"] == f"{first.model_resource_name}@2"
    versions = default_registry(home).list_versions(first.model_resource_name)
    assert [set(v.version_aliases) for v in versions] == [set(), {"champion", "default"}]


def test_champion_model_needs_a_found_champion(tmp_path):
    empty = VertexModel(name="champion", uri=str(tmp_path / "c"), metadata={})
    model = UnmanagedContainerModel(name="model", uri=str(tmp_path / "m"), metadata={})
    with pytest.raises(SpecError, match="champion.metadata.artifactUri must name"):
        champion_model.python_func(champion=empty, model=model)


@pytest.mark.slow  # a local run of a compiled pipeline
def test_condition_on_the_lookup_runs_locally(home, tmp_path):
    from kfp import dsl
    from support.pipelines import compile_pipeline

    from vtp.home import LocalHome
    from vtp.local.run import run_pipeline

    @dsl.pipeline(name="lookup")
    def pipeline(display_name: str):
        lookup = champion_vertex.champion_lookup(
            project=PROJECT, location=LOCATION, model_display_name=display_name
        )
        with dsl.If(lookup.outputs["Output"] == "found"):
            champion_model(champion=lookup.outputs["champion"])
        with dsl.Else():
            decision_aliases(decision="challenger")

    _upload(home, uri="gs://b/seen")
    path = compile_pipeline(pipeline, tmp_path)
    found = run_pipeline(path, {"display_name": "clf"}, home=LocalHome(home), out=None)
    assert found.tasks["champion-model"].outputs["model"]["uri"] == "gs://b/seen"
    none = run_pipeline(path, {"display_name": "nothing"}, home=LocalHome(home), out=None)
    assert none.tasks["decision-aliases"].outputs["Output"] == ["default", "champion"]
    assert none.tasks["condition-2"].state == "SKIPPED"  # the If; the Else ran


# --- Vertex: request building and the API path --------------------------------------------------


def test_vertex_requests():
    assert api_endpoint("europe-west4") == "europe-west4-aiplatform.googleapis.com"
    assert list_models_request("p", "us-central1", 'my "clf"') == {
        "parent": "projects/p/locations/us-central1",
        "filter": 'display_name="my \\"clf\\""',
    }
    assert display_name_filter("a\\b") == 'display_name="a\\\\b"'
    name = "projects/p/locations/us-central1/models/42@3"
    assert (
        model_uri("us-central1", name) == f"https://us-central1-aiplatform.googleapis.com/v1/{name}"
    )
    client = model_service_client("europe-west4", credentials=AnonymousCredentials())
    assert client.api_endpoint == "europe-west4-aiplatform.googleapis.com"


def _version(model_id, version, aliases, name="clf"):
    return {
        "name": f"projects/p/locations/us-central1/models/{model_id}",
        "versionId": str(version),
        "versionAliases": aliases,
        "displayName": name,
        "artifactUri": f"gs://b/{model_id}/{version}",
        "containerSpec": {"imageUri": IMAGE, "ports": [{"containerPort": 8080}]},
    }


@pytest.fixture(scope="module")
def vertex():
    """The stand-in answers `ListModels` (each model's version holding `default`), `GetModel`
    (`name@alias`) and `ListModelVersions` from the seeded versions; one model per page, to
    exercise the pager."""
    with VertexStandIn(project="p", location="us-central1", default_page_size=1) as standin:
        client = model_service_client(
            "us-central1",
            api_endpoint=standin.endpoint,
            transport="rest",
            credentials=AnonymousCredentials(),
        )
        yield standin, client


def test_vertex_lookup_finds_the_aliased_version(vertex, tmp_path):
    standin, client = vertex
    standin.set_models([_version(42, 1, ["champion"]), _version(42, 2, ["default"])])
    standin.requests.clear()
    model = find_version(client, "p", "us-central1", "clf", "champion")
    assert standin.requests[0].path == "/v1/projects/p/locations/us-central1/models"
    assert standin.requests[0].query["filter"] == ['display_name="clf"']
    assert standin.requests[1].path == "/v1/projects/p/locations/us-central1/models/42@champion"
    artifact = VertexModel(name="champion", uri=str(tmp_path / "c"), metadata={})
    name = "projects/p/locations/us-central1/models/42@1"
    assert write_champion(artifact, model, model_uri("us-central1", name)) == name
    assert artifact.metadata == {
        "resourceName": name,
        "artifactUri": "gs://b/42/1",
        "containerSpec": {"imageUri": IMAGE, "ports": [{"containerPort": 8080}]},
    }
    assert find_version(client, "p", "us-central1", "clf", "default")["versionId"] == "2"


def test_vertex_lookup_none_ambiguous_and_missing_alias(vertex):
    standin, client = vertex
    standin.set_models([_version(42, 1, ["default"])])
    assert find_version(client, "p", "us-central1", "other", "default") is None
    with pytest.raises(RegistryError, match=r"models/42 has no version with alias 'gold'"):
        find_version(client, "p", "us-central1", "clf", "gold")
    standin.add_model_version(_version(43, 1, ["default"]))
    with pytest.raises(RegistryError, match="'clf' is ambiguous: 2 models") as err:
        find_version(client, "p", "us-central1", "clf", "default")  # over two pages
    assert "models/42" in str(err.value) and "models/43" in str(err.value)


# --- decision -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("challenger", "champion", "found", "goal", "margin", "winner"),
    [
        (0.80, math.nan, "none", "maximize", 0.0, "challenger"),  # first model
        (0.97, 0.95, "found", "maximize", 0.0, "challenger"),
        (0.93, 0.95, "found", "maximize", 0.0, "champion"),
        (0.95, 0.95, "found", "maximize", 0.0, "champion"),  # tie
        (0.96, 0.95, "found", "maximize", 0.02, "champion"),  # not enough gain
        (0.20, 0.25, "found", "minimize", 0.0, "challenger"),
        (0.30, 0.25, "found", "MINIMIZE", 0.0, "champion"),
        (math.nan, 0.5, "found", "maximize", 0.0, "champion"),
        (0.5, math.nan, "found", "maximize", 0.0, "challenger"),
    ],
)
def test_decision(challenger, champion, found, goal, margin, winner):
    assert decide(challenger, champion, found, goal, margin) == winner
    result = challenger_decision.python_func(
        challenger_value=challenger,
        champion_value=champion,
        champion_found=found,
        goal=goal,
        min_improvement=margin,
    )
    assert result == winner


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"champion_found": "yes"}, "champion_found must be 'found' or 'none', got 'yes'"),
        ({"goal": "up"}, "goal must be one of maximize, minimize, got 'up'"),
        ({"min_improvement": -0.1}, "min_improvement must be a finite number >= 0"),
    ],
)
def test_decision_refuses_bad_inputs(kwargs, message):
    args = {"challenger_value": 1.0, "champion_value": 0.0, "champion_found": "found"} | kwargs
    with pytest.raises(SpecError, match=message):
        decide(**args)


def test_upload_aliases():
    assert upload_aliases("challenger") == ["default", "champion"]
    assert upload_aliases("champion") == ["challenger"]
    assert decision_aliases.python_func(decision="champion") == ["challenger"]
    with pytest.raises(SpecError, match="decision must be 'challenger' or 'champion'"):
        upload_aliases("draw")
    assert list(challenger_decision.component_spec.outputs) == ["Output"]
