"""The tuning job twin and both GetTrialsOps: the reference trainer tuned end to end, payload
checks, `gcp_resources` parsing and the Vertex API read against the loopback Vertex AI stand-in
(`tests/standins/vertex_api.py`)."""

import json
from pathlib import Path

import joblib
import pandas as pd
import pytest
from google.cloud.aiplatform_v1.types import HyperparameterTuningJob, Trial
from standins.vertex_api import VertexStandIn
from support.launchers import tuning_payload

from vtp.components.tuning import get_trials as vertex_get_trials
from vtp.components.tuning.get_trials import (
    api_endpoint,
    job_trials,
    local_trials,
    read_trials,
    tuning_job_name,
)
from vtp.errors import SpecError
from vtp.local.twins.tuning_job_runtime import (
    launcher_payload,
    run_tuning_job_twin,
    validate_tuning_job,
)

# the tuning twin runs trials of the real trainer: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
POOL = {
    "machine_spec": {"machine_type": "n1-standard-4"},
    "replica_count": 1,
    "container_spec": {"image_uri": "vtp-trainer", "command": ["python", "-m", "trainer.task"]},
}


def _gcpc_study():
    """The study inputs as GCPC's own serializers write them."""
    from google.cloud.aiplatform import hyperparameter_tuning as hpt
    from google_cloud_pipeline_components.v1.hyperparameter_tuning_job import (
        serialize_metrics,
        serialize_parameters,
    )

    return {
        "study_spec_metrics": serialize_metrics({"auc": "maximize"}),
        "study_spec_parameters": serialize_parameters(
            {
                "learning-rate": hpt.DoubleParameterSpec(min=0.02, max=0.3, scale="log"),
                "max-iter": hpt.IntegerParameterSpec(min=10, max=30, scale="linear"),
                "max-leaf-nodes": hpt.DiscreteParameterSpec(values=[8, 16, 31], scale="linear"),
            }
        ),
    }


def test_twin_tunes_the_reference_trainer_and_get_trials_reads_the_study(home, capsys):
    data = pd.read_csv(REPO / "data" / "breast_cancer.csv")
    bucket = home / "gcs" / "bucket" / "data"
    bucket.mkdir(parents=True)
    data.iloc[::4].to_csv(bucket / "validation.csv", index=False)
    data.drop(data.index[::4]).to_parquet(bucket / "train.parquet")
    pool = {
        **POOL,
        "container_spec": {
            **POOL["container_spec"],
            "args": ["--report-every=5"],
            "env": [
                {"name": "AIP_TRAINING_DATA_URI", "value": "gs://bucket/data/train.parquet"},
                {"name": "AIP_VALIDATION_DATA_URI", "value": "gs://bucket/data/validation.csv"},
                {"name": "OMP_NUM_THREADS", "value": "1"},
            ],
        },
    }
    out = home / "outputs" / "gcp_resources"
    run_tuning_job_twin(
        gcp_resources_path=str(out),
        project="p",
        location="europe-west4",
        payload=tuning_payload(
            display_name="tune-breast-cancer",
            base_output_directory="gs://bucket/tuning",
            worker_pool_specs=[pool],
            max_trial_count=3,
            parallel_trial_count=2,
            **_gcpc_study(),
        ),
    )
    doc = out.read_text()
    resource = json.loads(doc)["resources"][0]
    assert resource["resourceType"] == "HyperparameterTuningJob"
    prefix = "local://projects/p/locations/europe-west4/hyperparameterTuningJobs/"
    assert resource["resourceUri"].startswith(prefix)
    job_id = resource["resourceUri"][len(prefix) :]

    trials = [Trial.from_json(t) for t in job_trials(doc)]  # GetTrialsOp's body, locally
    assert sorted(t.id for t in trials) == ["1", "2", "3"]
    for trial in trials:
        assert trial.state == Trial.State.SUCCEEDED
        auc = trial.final_measurement.metrics[0]
        assert auc.metric_id == "auc" and 0.9 < auc.value <= 1.0
        values = {p.parameter_id: p.value for p in trial.parameters}
        assert 0.02 <= values["learning-rate"] <= 0.3 and values["max-leaf-nodes"] in (8, 16, 31)
        model_dir = home / "gcs" / "bucket" / "tuning" / trial.id / "model"
        metadata = json.loads((model_dir / "model_metadata.json").read_text())
        assert metadata["trial_id"] == trial.id
        assert metadata["hyperparameters"]["max_iter"] == values["max-iter"]
        assert metadata["hyperparameters"]["learning_rate"] == values["learning-rate"]
        # BEST_MEASUREMENT (GCPC's default): the best of the reports, every 5 iterations + final
        reported = [(m.metrics[0].value, -m.step_count) for m in trial.measurements]
        assert len(reported) >= values["max-iter"] // 5 and max(reported) == (
            auc.value,
            -trial.final_measurement.step_count,
        )
        joblib.load(model_dir / "model.joblib")
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("trial ") and " SUCCEEDED auc=" in line for line in lines) == 3
    job = json.loads((home / "tuning" / job_id / "job.json").read_text())
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["name"].endswith(job_id)
    assert job["job"]["trial_job_spec"]["worker_pool_specs"] == [pool]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"study_spec_algorithm": "BAYESIAN"}, r"study_spec.algorithm must be one of"),
        ({"max_trial_count": 0}, r"max_trial_count must be"),
        (
            {"worker_pool_specs": [{**POOL, "replica_count": 2}]},
            r"worker_pool_specs\[0\].replica_count must be 1",
        ),
        (
            {"encryption_spec_key_name": "k", "study_spec_metrics": [{"metric_id": "auc"}]},
            r"study_spec.metrics\[0\].goal is required",
        ),
    ],
)
def test_twin_refuses_an_invalid_job_before_any_trial(home, change, message):
    inputs = {
        "display_name": "bad",
        "base_output_directory": "",
        "worker_pool_specs": [POOL],
        "study_spec_metrics": [{"metric_id": "auc", "goal": 1}],
        "study_spec_parameters": [
            {"parameter_id": "x", "double_value_spec": {"min_value": 0.0, "max_value": 1.0}}
        ],
        "max_trial_count": 2,
        "parallel_trial_count": 1,
        **change,
    }
    with pytest.raises(SpecError, match=message):
        run_tuning_job_twin(
            gcp_resources_path=str(home / "r"),
            project="p",
            location="us-central1",
            payload=tuning_payload(**inputs),
        )
    assert not (home / "tuning").exists()


def test_launcher_payload_and_proto_validation():
    payload = {
        "display_name": "job",
        "study_spec": {"metrics": [{"metric_id": "m", "goal": 1}], "parameters": []},
        "max_trial_count": 2,
        "parallel_trial_count": 1,
        "max_failed_trial_count": 0,
        "trial_job_spec": {"worker_pool_specs": [POOL, {}, POOL], "service_account": ""},
    }
    job = launcher_payload(payload)
    assert job["trial_job_spec"] == {"worker_pool_specs": [POOL, POOL]}  # as GCPC sends it
    assert "max_failed_trial_count" not in job
    validate_tuning_job(job)
    with pytest.raises(SpecError, match="max_trial_cont"):
        validate_tuning_job({**job, "max_trial_cont": 3})


def _resources(uri: str, kind: str = "HyperparameterTuningJob") -> str:
    return json.dumps({"resources": [{"resourceType": kind, "resourceUri": uri}]})


def test_gcp_resources_name_the_job_and_its_endpoint():
    name = "projects/p/locations/europe-west4/hyperparameterTuningJobs/123"
    vertex = _resources(f"https://europe-west4-aiplatform.googleapis.com/v1/{name}")
    assert tuning_job_name(vertex) == (name, "europe-west4")
    assert tuning_job_name(_resources(f"local://{name}")) == (name, "europe-west4")
    assert api_endpoint("europe-west4") == "europe-west4-aiplatform.googleapis.com"
    with pytest.raises(SpecError, match="found 0 tuning jobs"):
        tuning_job_name(_resources(f"local://{name}", "CustomJob"))
    with pytest.raises(SpecError, match="must be the JSON a tuning job op writes"):
        tuning_job_name("not json")
    with pytest.raises(SpecError, match="must end in projects/P/locations/L/hyper"):
        tuning_job_name(_resources("https://x/v1/projects/p/customJobs/1"))


def test_local_get_trials_refuses_a_vertex_job_and_names_a_missing_record(home):
    name = "projects/p/locations/us-central1/hyperparameterTuningJobs/42"
    with pytest.raises(SpecError, match="must be a local tuning job"):
        local_trials(_resources(f"https://us-central1-aiplatform.googleapis.com/v1/{name}"))
    with pytest.raises(FileNotFoundError, match=r"tuning/42/trials.json does not exist"):
        local_trials(_resources(f"local://{name}"))


def test_vertex_get_trials_reads_the_job_through_the_rest_api():
    """The client against the loopback Vertex AI stand-in (REST transport, anonymous
    credentials), seeded with the job: nothing here reaches Google. The op itself uses the
    default gRPC transport."""
    from google.auth.credentials import AnonymousCredentials

    name = "projects/p/locations/europe-west4/hyperparameterTuningJobs/123"
    job = HyperparameterTuningJob(
        name=name,
        trials=[
            Trial(id="1", state=Trial.State.SUCCEEDED, final_measurement={"step_count": 7}),
            Trial(id="2", state=Trial.State.INFEASIBLE, infeasible_reason="no metric"),
        ],
    )
    with VertexStandIn(project="p", location="europe-west4") as standin:
        standin.add_tuning_job(job)
        trials = read_trials(
            name,
            endpoint=standin.endpoint,
            transport="rest",
            credentials=AnonymousCredentials(),
        )
    assert [r.path for r in standin.requests] == [f"/v1/{name}"]
    parsed = [Trial.from_json(t) for t in trials]
    assert [(t.id, t.state) for t in parsed] == [
        ("1", Trial.State.SUCCEEDED),
        ("2", Trial.State.INFEASIBLE),
    ]
    assert parsed[1].infeasible_reason == "no metric"


def test_get_trials_returns_a_list_of_strings_like_the_former_gcpc_op():
    from kfp.pipeline_spec import pipeline_spec_pb2

    root = vertex_get_trials.get_trials.pipeline_spec.root
    assert list(root.input_definitions.parameters) == ["gcp_resources"]
    output = root.output_definitions.parameters["Output"]
    assert output.parameter_type == pipeline_spec_pb2.ParameterType.LIST
