"""The local model registry: Vertex Model Registry semantics on a real SQLite database."""

from __future__ import annotations

import json
import multiprocessing
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from vtp.errors import RegistryError
from vtp.local.registry import LocalModelRegistry, ModelVersion
from vtp.local.registry_format import format_model_details, format_models_table
from vtp.local.registry_schema import SCHEMA_VERSION

IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"
SPEC = {"imageUri": IMAGE}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "registry.db"


@pytest.fixture
def reg(db: Path) -> LocalModelRegistry:
    return LocalModelRegistry(db)


def _up(reg: LocalModelRegistry, name: str = "iris", **kwargs) -> ModelVersion:
    kwargs.setdefault("artifact_uri", f"gs://bucket/{name}/model/")
    kwargs.setdefault("container_spec", SPEC)
    return reg.upload(display_name=name, **kwargs)


def _row_counts(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return tuple(
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("models", "versions", "aliases")
        )


# ----------------------------------------------------------------------------- uploads


def test_first_upload_creates_model_with_version_1_default(db: Path, reg: LocalModelRegistry):
    v = _up(reg, version_description="first")
    assert db.parent.is_dir() and db.is_file()
    assert re.fullmatch(r"[1-9]\d{18}", v.model_id)
    assert (v.version_id, v.version_aliases) == ("1", ("default",))
    assert v.resource_name == (
        f"projects/local-project/locations/us-central1/models/{v.model_id}@1"
    )
    assert v.model_resource_name == v.resource_name.split("@")[0]
    assert RFC3339.fullmatch(v.create_time)
    assert v.version_description == "first"
    assert _up(reg).model_id != v.model_id  # no parent_model: a second model


def test_parent_model_adds_next_version_and_moves_default(reg: LocalModelRegistry):
    v1 = _up(reg)
    v2 = _up(reg, parent_model=v1.resource_name)  # the @1 suffix is ignored
    assert (v2.model_id, v2.version_id, v2.version_aliases) == (v1.model_id, "2", ("default",))
    assert reg.get(v1.model_id).version_id == "2"
    assert reg.get(f"{v1.model_id}@1").version_aliases == ()
    v3 = _up(reg, parent_model="iris")
    assert v3.version_id == "3" and reg.get("iris").version_id == "3"


def test_first_version_is_default_even_if_not_asked(reg: LocalModelRegistry):
    assert _up(reg, is_default_version=False).version_aliases == ("default",)


def test_not_default_version_keeps_default(reg: LocalModelRegistry):
    v1 = _up(reg)
    challenger = _up(
        reg, parent_model=v1.model_id, is_default_version=False, version_aliases=["challenger"]
    )
    assert challenger.version_aliases == ("challenger",)
    assert reg.get(v1.model_id).version_id == "1"
    assert reg.get(f"{v1.model_id}@challenger").version_id == "2"
    # The Vertex SDK adds nothing and requires nothing here: the version is reachable by id.
    bare = _up(reg, parent_model=v1.model_id, is_default_version=False)
    assert bare.version_aliases == ()
    assert reg.get(f"{v1.model_id}@3").version_id == "3"
    assert reg.get(v1.model_id).version_id == "1"


def test_alias_moves_between_versions(reg: LocalModelRegistry):
    v1 = _up(reg, version_aliases=["champion"])
    assert v1.version_aliases == ("default", "champion")
    v2 = _up(reg, parent_model="iris", version_aliases=["champion"], is_default_version=False)
    assert v2.version_aliases == ("champion",)
    assert reg.get("iris@1").version_aliases == ("default",)
    moved = reg.add_version_aliases("iris@1", ["champion", "stable"])
    assert moved.version_aliases == ("default", "champion", "stable")
    assert reg.get("iris@2").version_aliases == ()
    assert reg.add_version_aliases("iris@2", ["default"]).version_aliases == ("default",)
    assert reg.get("iris").version_id == "2"
    assert reg.get("iris@1").version_aliases == ("champion", "stable")


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("Champion", "must match"),
        ("a", "must match"),
        ("ends-", "must match"),
        ("-lead", "must match"),
        ("under_score", "must match"),
        ("a" * 129, "must match"),
        ("42", "looks like a version id"),
    ],
)
def test_alias_validation(reg: LocalModelRegistry, alias: str, message: str):
    v1 = _up(reg)
    with pytest.raises(RegistryError, match=message) as err:
        _up(reg, parent_model="iris", version_aliases=[alias])
    assert repr(alias) in str(err.value)
    with pytest.raises(RegistryError, match=message):
        reg.add_version_aliases(v1.resource_name, [alias])
    assert len(reg.list_versions("iris")) == 1


def test_alias_limits_accepted(reg: LocalModelRegistry):
    longest = "a" + "B" * 126 + "9"
    assert _up(reg, version_aliases=["v2", longest]).version_aliases == ("default", longest, "v2")


def test_remove_aliases(reg: LocalModelRegistry):
    _up(reg, version_aliases=["champion", "stable"])
    with pytest.raises(RegistryError, match="'default' cannot be removed"):
        reg.remove_version_aliases("iris", ["default"])
    with pytest.raises(RegistryError, match=r"does not hold aliases \['gold'\]"):
        reg.remove_version_aliases("iris", ["gold"])
    assert reg.remove_version_aliases("iris@champion", ["champion"]).version_aliases == (
        "default",
        "stable",
    )
    with pytest.raises(RegistryError, match="no version or alias 'champion'"):
        reg.get("iris@champion")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"Team": "x"}, "label key 'Team'"),
        ({"1team": "x"}, "label key '1team'"),
        ({"": "x"}, "label key ''"),
        ({"a.b": "x"}, "label key 'a.b'"),
        ({"k" * 64: "x"}, "label key 'kkk"),
        ({"team": "Ops"}, "label 'team' has value 'Ops'"),
        ({"team": "o" * 64}, "label 'team' has value"),
        ({"team": 3}, "label 'team' has value 3"),
        ({f"k{i}": "v" for i in range(65)}, "65 entries; at most 64"),
    ],
)
def test_label_validation(reg: LocalModelRegistry, labels: dict, message: str):
    with pytest.raises(RegistryError, match=re.escape(message)):
        _up(reg, labels=labels)
    assert reg.list_models() == []


def test_labels_accepted(reg: LocalModelRegistry):
    labels = {"team": "ml-ops", "k" * 63: "v" * 63, "empty": "", "run_id": "2024-01_x"}
    assert _up(reg, labels=labels).labels == labels


def test_field_validation(reg: LocalModelRegistry):
    with pytest.raises(RegistryError, match="display_name must be a string of 1-128"):
        _up(reg, name="")
    with pytest.raises(RegistryError, match="display_name"):
        _up(reg, name="x" * 129)
    assert _up(reg, name="x" * 128).display_name == "x" * 128
    with pytest.raises(RegistryError, match=r"container_spec\.imageUri must be a non-empty"):
        _up(reg, container_spec={"command": ["serve"]})
    with pytest.raises(RegistryError, match=r"container_spec\.imageUri"):
        _up(reg, container_spec={"imageUri": " "})
    with pytest.raises(RegistryError, match=r"unknown fields \['image'\]"):
        _up(reg, container_spec={"imageUri": IMAGE, "image": IMAGE})
    with pytest.raises(RegistryError, match="sets 'imageUri' twice"):
        _up(reg, container_spec={"imageUri": IMAGE, "image_uri": IMAGE})
    with pytest.raises(RegistryError, match="metadata must be JSON-serialisable"):
        _up(reg, metadata={"x": object()})


def test_snake_case_container_spec_is_normalised(reg: LocalModelRegistry):
    v = _up(
        reg,
        container_spec={
            "image_uri": IMAGE,
            "predict_route": "/predict",
            "ports": [{"container_port": 8080}],
            "env": [{"name": "MODE", "value": "x"}],
        },
        predict_schemata={"instance_schema_uri": "gs://b/instance.yaml"},
    )
    assert v.container_spec == {
        "imageUri": IMAGE,
        "predictRoute": "/predict",
        "ports": [{"containerPort": 8080}],
        "env": [{"name": "MODE", "value": "x"}],
    }
    assert v.predict_schemata == {"instanceSchemaUri": "gs://b/instance.yaml"}


def test_unknown_parent_model_is_named(reg: LocalModelRegistry):
    with pytest.raises(RegistryError, match="parent_model 'no-such-model'"):
        _up(reg, parent_model="no-such-model")
    full = "projects/local-project/locations/us-central1/models/123"
    with pytest.raises(RegistryError, match=f"parent_model '{full}'"):
        _up(reg, parent_model=full)
    assert _row_counts(reg.db_path) == (0, 0, 0)


def test_explicit_model_id(reg: LocalModelRegistry):
    v = _up(reg, model_id="iris-classifier")
    assert v.resource_name.endswith("/models/iris-classifier@1")
    assert reg.get("iris-classifier@1") == v
    with pytest.raises(RegistryError, match="model_id 'iris-classifier' already exists"):
        _up(reg, model_id="iris-classifier")
    with pytest.raises(RegistryError, match="cannot be set together"):
        _up(reg, model_id="other", parent_model="iris-classifier")
    for bad in ("1abc", "-abc", "Abc", "a" * 64):
        with pytest.raises(RegistryError, match=re.escape(f"model_id {bad!r} is not allowed")):
            _up(reg, model_id=bad)


# ----------------------------------------------------------------------------- names


def test_every_name_form_resolves(reg: LocalModelRegistry):
    v1 = _up(reg, version_aliases=["champion"])
    _up(reg, parent_model="iris")
    full = v1.model_resource_name
    expected = {
        full: "2",
        f"{full}@1": "1",
        f"{full}@2": "2",
        f"{full}@champion": "1",
        f"{full}@default": "2",
        v1.model_id: "2",
        f"{v1.model_id}@1": "1",
        f"{v1.model_id}@champion": "1",
        "iris": "2",
        "iris@1": "1",
        "iris@champion": "1",
    }
    for name, version in expected.items():
        got = reg.get(name)
        assert (got.model_id, got.version_id) == (v1.model_id, version), name
    with pytest.raises(RegistryError, match=r"no version or alias '7'.*versions: 1, 2"):
        reg.get(f"{full}@7")
    with pytest.raises(RegistryError, match=r"no version or alias 'gold'.*champion, default"):
        reg.get("iris@gold")
    other = "projects/other/locations/us-central1/models/" + v1.model_id
    with pytest.raises(RegistryError, match=f"model '{other}' not found"):
        reg.get(other)
    with pytest.raises(RegistryError, match="not found"):
        reg.get("missing")


def test_display_name_may_contain_at_sign(reg: LocalModelRegistry):
    v = _up(reg, name="team@iris")
    assert reg.get("team@iris") == v
    assert reg.get("team@iris@1") == v


def test_ambiguous_display_name_lists_candidates(reg: LocalModelRegistry):
    a = _up(reg)
    b = _up(reg)
    with pytest.raises(RegistryError, match="display name 'iris' is ambiguous: 2 models") as err:
        reg.get("iris@1")
    assert a.model_resource_name in str(err.value) and b.model_resource_name in str(err.value)
    with pytest.raises(RegistryError, match="ambiguous"):
        _up(reg, parent_model="iris")
    assert reg.get(b.model_id) == b


def test_project_and_location_scope(db: Path, reg: LocalModelRegistry):
    v = _up(reg)
    other = LocalModelRegistry(db, project="prod", location="europe-west4")
    assert other.list_models() == []
    with pytest.raises(RegistryError, match="not found"):
        other.get("iris")
    assert other.get(v.resource_name) == v  # a full name carries its own project
    w = _up(other)
    assert w.resource_name.startswith("projects/prod/locations/europe-west4/models/")


# ----------------------------------------------------------------------------- listing


def test_list_models_and_versions(reg: LocalModelRegistry):
    iris = _up(reg)
    _up(reg, parent_model="iris", is_default_version=False, version_aliases=["canary"])
    wine = _up(reg, name="wine")
    listed = reg.list_models()
    assert [(m.display_name, m.version_id) for m in listed] == [("wine", "1"), ("iris", "1")]
    assert listed[0] == wine
    versions = reg.list_versions(f"{iris.model_id}@canary")
    assert [(v.version_id, v.version_aliases) for v in versions] == [
        ("1", ("default",)),
        ("2", ("canary",)),
    ]


def test_format_models_table(reg: LocalModelRegistry):
    assert format_models_table([]) == "No models registered."
    iris = _up(reg, version_aliases=["champion"])
    _up(reg, name="a-much-longer-display-name", artifact_uri="/tmp/model")
    lines = format_models_table(reg.list_models()).splitlines()
    header = lines[0]
    columns = ["DISPLAY NAME", "MODEL ID", "DEFAULT VERSION", "ALIASES", "CREATED", "ARTIFACT URI"]
    starts = [header.index(c) for c in columns]
    assert starts == sorted(starts)
    row = lines[2]
    assert row.startswith("iris ")
    assert row[starts[1] :].startswith(iris.model_id)
    assert row[starts[2] :].startswith("1 ")
    assert row[starts[3] :].startswith("default, champion")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", row[starts[4] :])
    assert row[starts[5] :] == "gs://bucket/iris/model/"
    assert lines[1][starts[5] :] == "/tmp/model"


def test_format_model_details(reg: LocalModelRegistry):
    assert format_model_details([]) == "No versions."
    v1 = _up(reg)
    _up(
        reg,
        parent_model="iris",
        version_aliases=["champion"],
        artifact_uri="gs://b/v2/",
        description="Iris classifier",
        labels={"team": "ml"},
    )
    text = format_model_details(reg.list_versions("iris"))
    head, table = text.split("\n\n")
    assert "Model ID:         " + v1.model_id in head
    assert "Default version:  2" in head
    assert "Resource name:    " + v1.model_resource_name in head
    assert "Labels:           team=ml" in head  # from the default version
    assert "Description:      Iris classifier" in head
    lines = table.splitlines()
    uri_col = lines[0].index("ARTIFACT URI")
    alias_col = lines[0].index("ALIASES")
    assert lines[1].startswith("1 ") and lines[1][uri_col:] == "gs://bucket/iris/model/"
    assert lines[2].startswith("2 ") and lines[2][alias_col:].startswith("default, champion")
    assert lines[2][uri_col:] == "gs://b/v2/"


# ----------------------------------------------------------------------------- Vertex shape


def test_to_vertex_dict_is_a_vertex_model(reg: LocalModelRegistry):
    from google.cloud.aiplatform_v1.types import Model

    _up(reg)
    v = _up(
        reg,
        parent_model="iris",
        version_aliases=["champion"],
        labels={"team": "ml"},
        description="Iris",
        version_description="retrained",
        container_spec={"image_uri": IMAGE, "predict_route": "/p", "health_route": "/h"},
        predict_schemata={"instanceSchemaUri": "gs://b/i.yaml"},
        metadata={"accuracy": 0.97, "framework": "sklearn"},
    )
    d = v.to_vertex_dict()
    model = Model.from_json(json.dumps(d), ignore_unknown_fields=False)
    assert model.name == v.model_resource_name
    assert (model.version_id, list(model.version_aliases)) == ("2", ["default", "champion"])
    assert model.display_name == "iris" and model.description == "Iris"
    assert model.version_description == "retrained"
    assert model.container_spec.image_uri == IMAGE
    assert model.container_spec.predict_route == "/p"
    assert model.predict_schemata.instance_schema_uri == "gs://b/i.yaml"
    assert dict(model.labels) == {"team": "ml"}
    assert model.artifact_uri == "gs://bucket/iris/model/"
    assert model.metadata["accuracy"] == 0.97
    assert model.version_create_time.isoformat().startswith(v.create_time[:19])
    assert d["createTime"] <= d["versionCreateTime"]


# ----------------------------------------------------------------------------- deletion


def test_delete_version(reg: LocalModelRegistry):
    v1 = _up(reg)
    _up(reg, parent_model="iris")
    with pytest.raises(RegistryError, match="holds alias 'default' and cannot be deleted"):
        reg.delete_version("iris@2")
    reg.delete_version(f"{v1.model_id}@1")
    assert [v.version_id for v in reg.list_versions("iris")] == ["2"]
    assert _up(reg, parent_model="iris").version_id == "3"  # ids are never reused
    reg.delete_version("iris@2")
    reg.delete_version("iris")  # the only version: the model goes with it
    assert reg.list_models() == []
    assert _row_counts(reg.db_path) == (0, 0, 0)


# ----------------------------------------------------------------------------- atomicity


def test_failed_upload_leaves_nothing_behind(db: Path, reg: LocalModelRegistry):
    def fail(model_id: str, version_id: str) -> None:
        assert _row_counts(db) == before  # other connections do not see the open write
        raise RuntimeError(f"injected failure after writing {model_id}@{version_id}")

    before = _row_counts(db)
    reg._after_version_insert = fail
    with pytest.raises(RuntimeError, match="injected failure"):
        _up(reg)
    assert _row_counts(db) == before == (0, 0, 0)

    reg._after_version_insert = None
    v1 = _up(reg, version_aliases=["champion"])
    before = _row_counts(db)
    reg._after_version_insert = fail
    with pytest.raises(RuntimeError, match="@2"):
        _up(reg, parent_model="iris", version_aliases=["champion"])
    assert _row_counts(db) == before
    reg._after_version_insert = None
    assert reg.get("iris@champion") == v1
    assert _up(reg, parent_model="iris").version_id == "2"


# ----------------------------------------------------------------------------- concurrency

WORKERS, UPLOADS = 6, 8


def _upload_versions(db: str, parent: str, worker: int, barrier) -> None:
    registry = LocalModelRegistry(db)
    barrier.wait()
    for step in range(UPLOADS):
        registry.upload(
            display_name="concurrent",
            artifact_uri=f"gs://bucket/w{worker}/s{step}/",
            container_spec=SPEC,
            parent_model=parent,
            version_aliases=[f"worker-{worker}"],
            labels={"worker": str(worker), "step": str(step)},
        )
        if step == 0:
            registry.upload(display_name=f"solo-{worker}", artifact_uri="", container_spec=SPEC)


@pytest.mark.slow  # many processes
def test_concurrent_uploads_lose_nothing(db: Path, reg: LocalModelRegistry):
    first = _up(reg, name="concurrent")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    procs = [
        ctx.Process(target=_upload_versions, args=(str(db), first.model_id, w, barrier))
        for w in range(WORKERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WORKERS

    versions = reg.list_versions(first.model_id)
    total = 1 + WORKERS * UPLOADS
    assert [v.version_id for v in versions] == [str(i) for i in range(1, total + 1)]
    assert sum(v.is_default for v in versions) == 1
    assert versions[-1].is_default
    uploads = [(v.labels["worker"], v.labels["step"]) for v in versions[1:]]
    assert sorted(uploads) == sorted(
        (str(w), str(s)) for w in range(WORKERS) for s in range(UPLOADS)
    )
    for w in range(WORKERS):  # each worker's alias sits on its last upload
        holder = reg.get(f"{first.model_id}@worker-{w}")
        assert holder.labels == {"worker": str(w), "step": str(UPLOADS - 1)}
    solos = [m for m in reg.list_models() if m.display_name.startswith("solo-")]
    assert len({m.model_id for m in solos}) == WORKERS


# ----------------------------------------------------------------------------- storage


def test_state_persists_across_instances(db: Path, reg: LocalModelRegistry):
    v = _up(reg, version_aliases=["champion"], metadata={"auc": 0.9})
    again = LocalModelRegistry(str(db))
    assert again.get("iris@champion") == v
    assert again.list_models() == [v]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unusable_database_is_refused(tmp_path: Path, db: Path, reg: LocalModelRegistry):
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RegistryError, match=f"schema version {SCHEMA_VERSION + 1}"):
        LocalModelRegistry(db)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match="corrupt or not a model registry"):
        LocalModelRegistry(junk)


@pytest.mark.slow  # a fresh interpreter
def test_import_stays_light():
    code = (
        "import sys, vtp.local.registry; "
        "print(sorted(m for m in sys.modules if m.startswith(('kfp', 'google.cloud.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
