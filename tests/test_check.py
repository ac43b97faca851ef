"""`vtp check`: Vertex payloads of compiled pipelines validated statically, and what the local
orchestrator would refuse. Test pipelines are compiled with kfp's real compiler and GCPC's real
ops."""

from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from google_cloud_pipeline_components.types import artifact_types
from google_cloud_pipeline_components.v1.custom_job import CustomTrainingJobOp
from google_cloud_pipeline_components.v1.hyperparameter_tuning_job import (
    HyperparameterTuningJobRunOp,
)
from google_cloud_pipeline_components.v1.model import ModelUploadOp
from kfp import compiler, dsl

from vtp.check.runner import check_paths
from vtp.cli.main import main
from vtp.components.training import unmanaged_container_model

REPO = Path(__file__).resolve().parents[1]
COMPILED = REPO / "compiled"

POOL = {
    "machine_spec": {"machine_type": "n1-standard-4"},
    "replica_count": 1,
    "container_spec": {"image_uri": "europe-docker.pkg.dev/p/r/trainer:1", "args": ["--x=1"]},
}
STUDY_METRICS = [{"metric_id": "auc", "goal": 1}]
STUDY_PARAMETERS = [
    {"parameter_id": "lr", "double_value_spec": {"min_value": 0.01, "max_value": 0.3}},
    {"parameter_id": "depth", "integer_value_spec": {"min_value": "2", "max_value": "8"}},
]
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"


@pytest.fixture(autouse=True)
def _trainer_image_mapped(monkeypatch):
    """POOL's trainer image runs here (mapped to a command), so a pipeline's only findings are
    the ones a test is about; the test of an unmapped image clears it."""
    monkeypatch.setenv("VTP_IMAGE_COMMANDS", '{"europe-docker.pkg.dev/p/r/trainer": ["true"]}')


@dsl.component(base_image="python:3.11")
def two_outputs() -> NamedTuple("Outputs", [("score", float), ("verdict", str)]):
    from collections import namedtuple

    return namedtuple("Outputs", ["score", "verdict"])(0.9, "pass")


@dsl.component(base_image="python:3.11")
def score() -> float:
    return 0.9


@dsl.component(base_image="python:3.11")
def say(message: str):
    print(f"branch: {message}")


def compile_to(tmp_path: Path, pipeline, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    compiler.Compiler().compile(pipeline, str(path))
    return path


def custom_job_pipeline(pools: list):
    @dsl.pipeline(name="pools")
    def pipeline(project: str = "p"):
        CustomTrainingJobOp(
            display_name="trainer", project=project, location="us-central1", worker_pool_specs=pools
        ).set_display_name("train")

    return pipeline


def run_check(capsys, *args: str) -> tuple[int, str, str]:
    """`vtp check --template ARGS`: these tests are about payloads, and vtp's checked-in
    pipelines (and components compiled here) name the template images (tests/
    test_pullable_images.py covers the image rule)."""
    code = main(["check", "--template", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def problem_lines(output: str, path: Path) -> list[str]:
    return [
        line
        for line in output.splitlines()
        if line.startswith(f"{path}: ") and ": warning: " not in line and ": note: " not in line
    ]


# --- vtp's own pipelines ------------------------------------------------------------------------


def test_shipped_pipelines_pass_with_local(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    code, out, _ = run_check(capsys, "--local")
    assert code == 0, out
    files = len(list(COMPILED.rglob("*.yaml")))
    summary = out.strip().splitlines()[-1]
    assert summary.startswith(f"vtp check: {files} files, ")
    assert "0 problems, 0 warnings" in summary
    report = check_paths([COMPILED / "pipelines"], local=True, template=True)
    by_file = {Path(f.file).name: f for f in report.files}
    # training: train, training-job-spec, model-artifact, upload-new-version, upload-model
    assert by_file["training.yaml"].payloads == 5
    # tuning: tune, two job specs, retrain, model artifact, two uploads
    assert by_file["tuning.yaml"].payloads == 7


def test_values_that_only_a_run_produces_are_notes_in_verbose_mode(capsys):
    path = COMPILED / "pipelines" / "training.yaml"
    code, quiet, _ = run_check(capsys, str(path))
    assert code == 0
    assert "note:" not in quiet and "checked at run time; -v lists them" in quiet
    code, verbose, _ = run_check(capsys, str(path), "-v")
    assert code == 0
    assert (
        f"{path}: note: task 'train' (custom-training-job): worker_pool_specs comes from output "
        "'worker_pool_specs' of task 'training-job-spec': checked at run time by "
        "custom-training-job"
    ) in verbose.splitlines()


def _with_default(tmp_path: Path, source: Path, name: str, value) -> Path:
    spec = yaml.safe_load(source.read_text())
    spec["root"]["inputDefinitions"]["parameters"][name]["defaultValue"] = value
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(spec))
    return path


def test_pipeline_parameter_defaults_that_feed_payloads_are_checked(capsys, tmp_path):
    training = _with_default(
        tmp_path, COMPILED / "pipelines" / "training.yaml", "accelerator_count", 2
    )
    code, out, _ = run_check(capsys, str(training))
    assert code == 1
    assert problem_lines(out, training) == [
        f"{training}: task 'training-job-spec' (training-job-spec): accelerator_count must be 0 "
        "when accelerator_type is not set, got 2 (default of pipeline parameter "
        "'accelerator_count')"
    ]

    bad_study = [{"parameter_id": "lr", "double_value_spec": {"min_value": 0.5, "max_value": 0.1}}]
    tuning = _with_default(
        tmp_path, COMPILED / "pipelines" / "tuning.yaml", "study_spec_parameters", bad_study
    )
    code, out, _ = run_check(capsys, str(tuning))
    assert code == 1
    assert problem_lines(out, tuning) == [
        f"{tuning}: task 'tune' (hyperparameter-tuning-job): study_spec_parameters[0]"
        ".double_value_spec.min_value must be <= max_value (0.1), got 0.5 (default of pipeline "
        "parameter 'study_spec_parameters')"
    ]


# --- custom job worker pools --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"replica_count": 2},
            "worker_pool_specs[0].replica_count must be 1 (the primary pool), got 2",
        ),
        (
            {
                "machine_spec": {
                    "machine_type": "a2-highgpu-1g",
                    "accelerator_type": "NVIDIA_TESLA_T4",
                    "accelerator_count": 1,
                }
            },
            "worker_pool_specs[0].machine_spec.accelerator_type must be NVIDIA_TESLA_A100 for "
            "machine_type a2-highgpu-1g, got 'NVIDIA_TESLA_T4'",
        ),
        (
            {
                "machine_spec": {
                    "machine_type": "n1-standard-8",
                    "accelerator_type": "NVIDIA_TESLA_Z9",
                    "accelerator_count": 1,
                }
            },
            "worker_pool_specs[0].machine_spec.accelerator_type must be accepted by "
            "google.cloud.aiplatform.v1.WorkerPoolSpec (Invalid enum value NVIDIA_TESLA_Z9 for "
            "enum type google.cloud.aiplatform.v1.AcceleratorType), got 'NVIDIA_TESLA_Z9'",
        ),
    ],
    ids=["primary-with-2-replicas", "a2-with-wrong-gpu", "unknown-accelerator"],
)
def test_bad_worker_pool_constant_is_a_problem(capsys, tmp_path, change, message):
    path = compile_to(tmp_path, custom_job_pipeline([{**POOL, **change}]))
    code, out, _ = run_check(capsys, str(path))
    assert code == 1
    assert problem_lines(out, path) == [f"{path}: task 'train' (custom-training-job): {message}"]
    assert out.strip().splitlines()[-1] == (
        "vtp check: 1 file, 1 task, 1 payload checked: 1 problem, 0 warnings "
        "(1 value checked at run time; -v lists them)"
    )


def test_good_worker_pools_pass_and_scheduling_fields_are_checked(capsys, tmp_path):
    path = compile_to(tmp_path, custom_job_pipeline([POOL]))
    assert run_check(capsys, str(path))[0] == 0

    @dsl.pipeline(name="scheduling")
    def scheduling():
        CustomTrainingJobOp(
            display_name="trainer",
            project="p",
            location="us-central1",
            worker_pool_specs=[POOL],
            timeout="2h",
            strategy="SPOT",
            labels={"Team": "ml"},
        ).set_display_name("train")

    path = compile_to(tmp_path, scheduling, "scheduling.yaml")
    code, out, _ = run_check(capsys, str(path))
    assert code == 1
    problems = problem_lines(out, path)
    assert len(problems) == 2
    assert "scheduling.timeout must be a protobuf Duration string" in problems[0]
    assert "got '2h'" in problems[0]
    assert "labels key must start with a lowercase letter" in problems[1]


def test_an_empty_middle_pool_that_shifts_roles_is_a_warning(capsys, tmp_path):
    evaluator = {**POOL, "replica_count": 1}
    path = compile_to(tmp_path, custom_job_pipeline([POOL, {}, {}, evaluator]))
    code, out, _ = run_check(capsys, str(path))
    assert code == 0
    assert (
        f"{path}: warning: task 'train' (custom-training-job): worker_pool_specs[3] (evaluators) "
        "reaches Vertex as worker_pool_specs[1] (workers)"
    ) in out


# --- tuning study -------------------------------------------------------------------------------


def tuning_pipeline(parameters: list, max_trials: int = 4, parallel: int = 2):
    @dsl.pipeline(name="tuning")
    def pipeline():
        HyperparameterTuningJobRunOp(
            display_name="study",
            project="p",
            location="us-central1",
            base_output_directory="gs://bucket/tuning",
            worker_pool_specs=[POOL],
            study_spec_metrics=STUDY_METRICS,
            study_spec_parameters=parameters,
            max_trial_count=max_trials,
            parallel_trial_count=parallel,
        ).set_display_name("tune")

    return pipeline


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            [{"parameter_id": "lr", "double_value_spec": {"min_value": 0.3, "max_value": 0.01}}],
            "study_spec_parameters[0].double_value_spec.min_value must be <= max_value (0.01), "
            "got 0.3",
        ),
        (
            [{**STUDY_PARAMETERS[0], "scale_type": "UNIT_CUBE_SCALE"}],
            "study_spec_parameters[0].scale_type must be one of SCALE_TYPE_UNSPECIFIED, "
            "UNIT_LINEAR_SCALE, UNIT_LOG_SCALE, UNIT_REVERSE_LOG_SCALE (or their numbers), "
            "got 'UNIT_CUBE_SCALE'",
        ),
        (
            [
                STUDY_PARAMETERS[0],
                {**STUDY_PARAMETERS[1], "scale_type": 2, "integer_value_spec": {"min_value": "0"}},
            ],
            "study_spec_parameters[1].integer_value_spec.min_value must be > 0 with "
            "UNIT_LOG_SCALE, got 0",
        ),
    ],
    ids=["double-min-above-max", "unknown-scale", "log-scale-from-zero"],
)
def test_bad_study_spec_is_a_problem(capsys, tmp_path, parameters, message):
    path = compile_to(tmp_path, tuning_pipeline(parameters))
    code, out, _ = run_check(capsys, str(path))
    assert code == 1
    assert problem_lines(out, path) == [
        f"{path}: task 'tune' (hyperparameter-tuning-job): {message}"
    ]


def test_trial_counts_are_checked(capsys, tmp_path):
    path = compile_to(tmp_path, tuning_pipeline(STUDY_PARAMETERS, max_trials=2, parallel=3))
    code, out, _ = run_check(capsys, str(path))
    assert code == 1
    assert problem_lines(out, path) == [
        f"{path}: task 'tune' (hyperparameter-tuning-job): parallel_trial_count must be <= "
        "max_trial_count (2), got 3"
    ]
    path = compile_to(tmp_path, tuning_pipeline(STUDY_PARAMETERS), "good.yaml")
    assert run_check(capsys, str(path))[0] == 0


# --- model upload -------------------------------------------------------------------------------


def upload_pipeline(container_spec: dict, aliases: list | None = None):
    @dsl.pipeline(name="upload")
    def pipeline():
        model = dsl.importer(
            artifact_uri="gs://bucket/model",
            artifact_class=artifact_types.UnmanagedContainerModel,
            metadata={"containerSpec": container_spec},
        ).set_display_name("model")
        ModelUploadOp(
            project="p",
            location="us-central1",
            display_name="classifier",
            unmanaged_container_model=model.output,
            version_aliases=aliases or [],
        ).set_display_name("upload")

    return pipeline


@pytest.mark.parametrize(
    ("container", "messages"),
    [
        (
            {"ports": [{"containerPort": 8080}]},
            [
                "metadata.containerSpec.imageUri must be set to the serving container image, "
                "got None"
            ],
        ),
        (
            {"imageUri": IMAGE, "ports": [{"containerPort": 0}, {"containerPort": 70000}]},
            [
                "metadata.containerSpec.ports[0].containerPort must be a port number from 1 to "
                "65535, got 0.0",
                "metadata.containerSpec.ports[1].containerPort must be a port number from 1 to "
                "65535, got 70000.0",
            ],
        ),
        (
            {"imageUri": IMAGE, "port": 8080},
            [
                "metadata.containerSpec.port must be accepted by google.cloud.aiplatform.v1."
                'ModelContainerSpec (Message type "google.cloud.aiplatform.v1.ModelContainerSpec" '
                'has no field named "port"'
            ],
        ),
    ],
    ids=["missing-image-uri", "bad-ports", "unknown-field"],
)
def test_bad_model_container_is_a_problem(capsys, tmp_path, container, messages):
    path = compile_to(tmp_path, upload_pipeline(container))
    code, out, _ = run_check(capsys, str(path))
    assert code == 1
    problems = problem_lines(out, path)
    assert len(problems) == len(messages)
    for line, message in zip(problems, messages, strict=True):
        assert line.startswith(f"{path}: task 'model' (importer): {message}")


def test_upload_fields_and_a_good_container(capsys, tmp_path):
    container = {"imageUri": IMAGE, "ports": [{"containerPort": 8080}], "predictRoute": "/p"}
    path = compile_to(tmp_path, upload_pipeline(container, ["default", "champion"]))
    code, out, _ = run_check(capsys, str(path), "-v")
    assert code == 0, out
    assert "2 payloads checked: 0 problems" in out

    path = compile_to(tmp_path, upload_pipeline(container, ["Champion_1"]), "alias.yaml")
    code, out, _ = run_check(capsys, str(path))
    assert code == 1
    assert problem_lines(out, path) == [
        f"{path}: task 'upload' (model-upload): version_aliases: version alias 'Champion_1' is "
        "not allowed: it must match [a-z][a-zA-Z0-9-]{0,126}[a-z0-9] (2-128 characters, "
        "starting with a lowercase letter, ending with a lowercase letter or digit)"
    ]


def test_vtp_model_artifact_component_inputs_are_checked(capsys, tmp_path):
    @dsl.pipeline(name="artifact")
    def pipeline(serving_image: str = IMAGE):
        unmanaged_container_model(
            model_dir="gs://bucket/model", serving_image=serving_image, serving_port=70000
        ).set_display_name("model-artifact")

    path = compile_to(tmp_path, pipeline)
    code, out, _ = run_check(capsys, str(path))
    assert code == 1
    assert problem_lines(out, path) == [
        f"{path}: task 'model-artifact' (unmanaged-container-model): serving_port must be in "
        "1..65535, got 70000"
    ]


# --- nested DAGs --------------------------------------------------------------------------------


def test_payloads_inside_sub_pipelines_loops_conditions_and_exit_handlers_are_found(
    capsys, tmp_path
):
    @dsl.pipeline(name="inner")
    def inner(machine: str = "a2-highgpu-1g"):
        pool = {**POOL, "machine_spec": {"machine_type": machine}}
        CustomTrainingJobOp(
            display_name="inner", project="p", location="us-central1", worker_pool_specs=[pool]
        ).set_display_name("train")

    tuning = tuning_pipeline([{"parameter_id": "lr", "double_value_spec": {"min_value": 1.0}}])

    @dsl.pipeline(name="outer")
    def outer(threshold: float = 0.5):
        gate = score()
        with dsl.ExitHandler(say(message="done"), name="guarded"):
            inner().set_display_name("sub")
            with dsl.ParallelFor([1, 2], name="each"):
                CustomTrainingJobOp(
                    display_name="loop",
                    project="p",
                    location="us-central1",
                    worker_pool_specs=[{**POOL, "replica_count": 3}],
                ).set_display_name("loop-train")
            with dsl.If(gate.output > threshold, name="good"):
                tuning().set_display_name("tuning-sub")

    path = compile_to(tmp_path, outer)
    code, out, _ = run_check(capsys, str(path), "--local")
    assert code == 1
    assert sorted(problem_lines(out, path)) == [
        f"{path}: task 'guarded/each/loop-train' (custom-training-job-2): "
        "worker_pool_specs[0].replica_count must be 1 (the primary pool), got 3",
        f"{path}: task 'guarded/good/tuning-sub/tune' (hyperparameter-tuning-job): "
        "study_spec_parameters[0].double_value_spec.min_value must be <= max_value (0.0), "
        "got 1.0",
        f"{path}: task 'guarded/sub/train' (custom-training-job): "
        "worker_pool_specs[0].machine_spec.accelerator_type must be NVIDIA_TESLA_A100 for "
        "machine_type a2-highgpu-1g, got None (default of input 'machine' of task "
        "'guarded/sub' (inner))",
    ]


# --- what the local orchestrator refuses ---------------------------------------------------------


def named_tuple_condition_pipeline():
    @dsl.pipeline(name="conditions")
    def pipeline():
        result = two_outputs().set_display_name("evaluate")
        with dsl.If(result.outputs["verdict"] == "pass", name="top-level"):
            say(message="top-level branch ran")
        with (
            dsl.ExitHandler(say(message="exit"), name="guarded"),
            dsl.If(result.outputs["verdict"] == "pass", name="nested"),
        ):
            say(message="nested branch ran")

    return pipeline


@pytest.mark.slow  # a local run
def test_conditions_kfp_local_skipped_are_no_problem_and_really_run(tmp_path):
    """A NamedTuple field in a condition (kfp.local skipped that branch and reported success):
    `vtp check --local` finds nothing, and the orchestrator takes both branches."""
    from vtp.home import LocalHome
    from vtp.local.run import run_pipeline

    path = compile_to(tmp_path, named_tuple_condition_pipeline())
    assert check_paths([path], local=True, template=True).files[0].findings == []
    record = run_pipeline(path, {}, home=LocalHome(tmp_path / "home"), out=None)
    ran = {name for name, task in record.tasks.items() if task.state == "SUCCEEDED"}
    assert {"say", "say-2", "say-3"} <= ran  # top-level, exit, nested


def test_what_the_local_run_would_refuse_is_a_problem_with_local(capsys, tmp_path, monkeypatch):
    from google_cloud_pipeline_components.v1.endpoint import EndpointCreateOp

    monkeypatch.setenv("PATH", "/nonexistent")  # no Docker client: the image cannot run

    @dsl.container_component
    def tool():
        return dsl.ContainerSpec(image="registry.example/tool:1", command=["tool"])

    @dsl.component(base_image="python:3.11", packages_to_install=["not-a-package-here-xyz"])
    def needs():
        pass

    @dsl.pipeline(name="refused")
    def pipeline():
        tool()
        needs()
        EndpointCreateOp(project="p", display_name="e")

    path = compile_to(tmp_path, pipeline)
    code, out, _ = run_check(capsys, str(path), "--local")
    assert code == 1
    lines = problem_lines(out, path)
    assert len(lines) == 3
    assert any("create_endpoint.launcher, which has no local twin" in line for line in lines)
    assert any("image 'registry.example/tool:1'" in line for line in lines)
    assert any("package 'not-a-package-here-xyz'" in line for line in lines)
    code, out, _ = run_check(capsys, str(path))
    assert code == 0
    assert "0 problems, 3 warnings" in out


def test_an_unparseable_condition_is_a_problem_with_local(capsys, tmp_path):
    path = compile_to(tmp_path, named_tuple_condition_pipeline())
    path.write_text(path.read_text().replace("== 'pass'", "=~ 'pass'", 1))
    code, out, _ = run_check(capsys, str(path), "--local")
    assert code == 1
    assert "cannot be evaluated locally" in out


def test_a_default_of_the_wrong_shape_is_a_problem_not_a_crash(capsys, tmp_path):
    spec = yaml.safe_load((COMPILED / "pipelines" / "training.yaml").read_text())
    spec["root"]["inputDefinitions"]["parameters"]["hyperparameters"]["defaultValue"] = [1]
    path = tmp_path / "list-hyperparameters.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, out, err = run_check(capsys, str(path))
    assert (code, err) == (1, "")
    assert (
        f"{path}: task 'training-job-spec' (training-job-spec): hyperparameters must be a "
        "mapping of name -> number or string, got [1] (default of pipeline parameter "
        "'hyperparameters')"
    ) in out


# --- bad usage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("components: [unclosed\n", "not valid YAML (line 2)"),
        ("x: 1\n", "not a compiled KFP v2 pipeline or component"),
        ("name: op\nimplementation:\n  container: {image: x}\n", "not a compiled KFP v2"),
        (b"\xff\xfe\x00binary", "not a text file"),
        (
            "pipelineInfo: {name: p}\nroot: {dag: {tasks: [1]}}\ndeploymentSpec: {}\n",
            "root.dag.tasks must be a mapping, got list",
        ),
        (
            "pipelineInfo: {name: p}\nroot: {dag: {tasks: {t: {componentRef: {name: c}, inputs: "
            "{parameters: {x: {runtimeValue: 3}}}}}}}\ndeploymentSpec: {}\n",
            "root.dag.tasks.t.inputs.parameters.x.runtimeValue must be a mapping, got int",
        ),
        (
            "pipelineInfo: {name: p}\nroot: {executorLabel: e}\n"
            "deploymentSpec: {executors: {e: {container: {command: python}}}}\n",
            "deploymentSpec.executors.e.container.command must be a list, got str",
        ),
    ],
    ids=[
        "broken-yaml",
        "not-a-pipeline",
        "kfp-v1-component",
        "binary",
        "tasks-not-a-mapping",
        "input-not-a-mapping",
        "command-not-a-list",
    ],
)
def test_unreadable_or_non_pipeline_yaml_is_bad_usage(capsys, tmp_path, content, message):
    good = compile_to(tmp_path, custom_job_pipeline([{**POOL, "replica_count": 2}]))
    bad = tmp_path / "bad.yaml"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content)
    code, out, err = run_check(capsys, str(good), str(bad))
    assert code == 2
    assert out == ""  # nothing is checked when an input cannot be read
    assert err.startswith(f"vtp: error: {bad}: {message}")


def test_missing_paths_and_empty_directories_are_bad_usage(capsys, tmp_path, monkeypatch):
    code, _, err = run_check(capsys, str(tmp_path / "nope.yaml"))
    assert (code, err) == (2, f"vtp: error: {tmp_path / 'nope.yaml'}: no such file or directory\n")
    code, _, err = run_check(capsys, str(tmp_path))
    assert (code, err) == (2, f"vtp: error: {tmp_path}: no .yaml or .yml files in this directory\n")


def test_without_compiled_pipelines_here_the_shipped_templates_are_checked(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code = main(["check"])
    out, err = capsys.readouterr()
    assert code == 0, out
    assert "no compiled/ here: checking vtp's shipped templates" in err
    files = len(list(COMPILED.rglob("*.yaml")))
    assert out.splitlines()[-1].startswith(f"vtp check: {files} files, ")
    assert "vtp check: templates: vtp's images are named without a registry" in out


def test_help_explains_the_rule_and_shows_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "vtp check --local" in text
    assert "problems with --local" in text
