"""`examples/team_pipeline.py`: another team's pipeline importing vtp by Python and by YAML.

Real parts only: the KFP compiler, vtp's checked-in component YAML (also served over HTTP on
loopback), and a whole local run of the compiled YAML (the nested training pipeline with its
trainer process and registry, the team's steps, the GPU custom-job step on the custom-job twin).
"""

import functools
import http.server
import importlib.util
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kfp import compiler, components, dsl
from kfp.dsl.yaml_component import YamlComponent

from vtp.components.data.split_reader import read_split_pandas
from vtp.home import LocalHome
from vtp.local.registry import LocalModelRegistry

REPO = Path(__file__).resolve().parents[1]


def _load_example(name: str):
    """An example script as a module (examples/ is not a package: they are run as scripts)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


team_pipeline = _load_example("team_pipeline")
COMPILED = REPO / "compiled" / "components"


def _compiled_executor(name: str) -> dict:
    spec = yaml.safe_load((COMPILED / f"{name}.yaml").read_text())
    return next(iter(spec["deploymentSpec"]["executors"].values()))


@pytest.fixture(scope="module")
def vertex_spec(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("compiled") / "team.yaml"
    assert team_pipeline.main(["compile", str(path)]) == 0
    return yaml.safe_load(path.read_text())


def _task(dag: dict, display_name: str) -> dict:
    tasks = [t for t in dag["tasks"].values() if t["taskInfo"]["name"] == display_name]
    assert len(tasks) == 1, sorted(t["taskInfo"]["name"] for t in dag["tasks"].values())
    return tasks[0]


def test_vertex_variant_nests_the_training_pipeline(vertex_spec):
    components = vertex_spec["components"]
    training = components[_task(vertex_spec["root"]["dag"], "vtp-training")["componentRef"]["name"]]
    inner = {t["taskInfo"]["name"] for t in training["dag"]["tasks"].values()}
    assert {"load-dataset", "train", "evaluate", "metric-gate", "metric-passes"} <= inner
    passes = components[_task(training["dag"], "metric-passes")["componentRef"]["name"]]
    names = sorted(t["taskInfo"]["name"] for t in passes["dag"]["tasks"].values())
    assert names == ["condition-branches-2", "model-lookup"]  # new version, or new model
    train = _task(training["dag"], "train")
    executor = vertex_spec["deploymentSpec"]["executors"][
        components[train["componentRef"]["name"]]["executorLabel"]
    ]
    assert executor["container"]["command"][-1].endswith("custom_job.launcher")


def test_vertex_variant_runs_vtps_compiled_components_as_they_are(vertex_spec):
    executors = vertex_spec["deploymentSpec"]["executors"]
    for component in ("load_dataset", "champion_model", "evaluate_model"):
        compiled = _compiled_executor(component)
        assert compiled in executors.values(), f"{component}'s compiled executor is not used"


def test_vertex_variant_scores_as_a_gpu_custom_job(vertex_spec):
    condition = vertex_spec["components"][
        _task(vertex_spec["root"]["dag"], "model-registered")["componentRef"]["name"]
    ]
    score = _task(condition["dag"], "score-on-gpu")
    component = vertex_spec["components"][score["componentRef"]["name"]]
    executor = vertex_spec["deploymentSpec"]["executors"][component["executorLabel"]]
    assert executor["container"]["command"][-1].endswith("custom_job.launcher")
    inputs = component["inputDefinitions"]["parameters"]
    (pool,) = inputs["worker_pool_specs"]["defaultValue"]
    assert pool["machine_spec"] == {
        "machine_type": "g2-standard-8",
        "accelerator_type": "NVIDIA_L4",
        "accelerator_count": 1,
    }
    assert pool["container_spec"]["image_uri"] == team_pipeline.TEAM_IMAGE
    assert inputs["display_name"]["defaultValue"] == "team-scoring"
    assert set(score["inputs"]["parameters"]) >= {"project", "location"}
    assert set(score["inputs"]["artifacts"]) == {"model", "rows"}
    assert "model-card" in {t["taskInfo"]["name"] for t in condition["dag"]["tasks"].values()}
    gate = _task(vertex_spec["root"]["dag"], "model-registered")["triggerPolicy"]["condition"]
    assert "'found'" in gate


def test_components_load_the_same_from_a_url(tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(COMPILED))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        from_url = team_pipeline.vtp_component("load_dataset", url)
        from_file = team_pipeline.vtp_component("load_dataset")
        assert isinstance(from_file, YamlComponent)
        assert from_url.pipeline_spec == from_file.pipeline_spec
        team_pipeline.build(components_source=url)
    finally:
        server.shutdown()
        server.server_close()


def test_compiled_training_pipeline_is_a_step_of_another_pipeline(tmp_path):
    """The YAML way for the whole pipeline (VERTEX only: it holds GCPC's ops)."""
    training = components.load_component_from_file(str(REPO / "compiled/pipelines/training.yaml"))

    @dsl.pipeline(name="outer")
    def outer(project: str):
        training(project=project, model_display_name="outer-model").set_display_name("nested")

    compiler.Compiler().compile(outer, str(tmp_path / "outer.yaml"))
    spec = yaml.safe_load((tmp_path / "outer.yaml").read_text())
    nested = spec["components"][_task(spec["root"]["dag"], "nested")["componentRef"]["name"]]
    assert "train" in {t["taskInfo"]["name"] for t in nested["dag"]["tasks"].values()}


@pytest.mark.slow
@pytest.mark.xdist_group("e2e-examples")
def test_compiled_yaml_trains_registers_scores_and_writes_the_card_locally(tmp_path):
    home = LocalHome(tmp_path / "home").create()
    record = team_pipeline.run_local(
        home, project="team-project", data_source=str(REPO / "data" / "breast_cancer.csv")
    )
    assert record.state == "SUCCEEDED" and record.pipeline == "team-model-card"
    registry = LocalModelRegistry(home.registry_db, project="team-project")
    version = registry.get("team-breast-cancer")
    assert version.version_id == "1" and version.version_aliases == ("default",)

    def local(task: str, output: str) -> Path:
        uri = record.tasks[task].outputs[output]["uri"]
        return home.gcs_root / uri[len("gs://") :]

    card = local("model-card", "card").read_text()
    assert card.startswith("# Model card: team-breast-cancer")
    assert f"Version: `{version.resource_name}`" in card
    auc = next(line for line in card.splitlines() if line.startswith("| auc |"))
    assert float(auc.split("|")[2]) > 0.95

    scored = pd.read_csv(local("score-rows", "predictions"))
    held_out = read_split_pandas(str(local("load-dataset", "test")))
    assert len(scored) == len(held_out) > 0
    assert list(scored.columns) == ["target", "prediction"]
    assert (scored["prediction"] == scored["target"]).mean() > 0.85
    assert f"Scored rows: {len(scored)}" in card

    log = record.log_path.read_text()
    assert "NVIDIA_L4 x 1 requested; running on CPU locally" in log
    assert f"scored {len(scored)} rows as replica workerpool0-0" in log
    nested = record.tasks["training/custom-training-job"]  # the nested pipeline's own step
    assert nested.state == "SUCCEEDED" and nested.display_name == "train"
