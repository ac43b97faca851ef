"""Steps shared by vtp's pipelines: called inside a pipeline function, they add its tasks."""

from kfp import dsl

from vtp.components.evaluation import evaluate_model
from vtp.components.models.gate import metric_gate
from vtp.components.targets import VERTEX as ops
from vtp.components.training import unmanaged_container_model


def register_version(
    *,
    pipeline_name: str,
    project,
    location,
    model_display_name,
    model,
) -> None:
    """Upload `model` as a new version of the model called `model_display_name` when one
    exists (`parent_model`), else as a new model; either way the version takes `default`.

    Tasks: `model-lookup` (the version holding `default`, by display name), then under
    `model-exists` `upload-new-version`, or under `new-model` `upload-model`.
    """
    lookup = ops.ChampionLookupOp(
        project=project, location=location, model_display_name=model_display_name
    ).set_display_name("model-lookup")
    with dsl.If(lookup.outputs["Output"] == "found", name="model-exists"):
        ops.ModelUploadOp(
            project=project,
            location=location,
            display_name=model_display_name,
            unmanaged_container_model=model,
            parent_model=lookup.outputs["champion"],
            version_aliases=["default"],
            labels={"pipeline": pipeline_name},
        ).set_display_name("upload-new-version")
    with dsl.Else(name="new-model"):
        ops.ModelUploadOp(
            project=project,
            location=location,
            display_name=model_display_name,
            unmanaged_container_model=model,
            version_aliases=["default"],
            labels={"pipeline": pipeline_name},
        ).set_display_name("upload-model")


def train_evaluate_register(
    *,
    pipeline_name: str,
    train_task: str,
    project,
    location,
    data: dsl.PipelineTask,
    spec: dsl.PipelineTask,
    timeout,
    serving_image,
    task,
    target_column,
    exclude_columns,
    primary_metric,
    metric_goal,
    metric_threshold,
    model_display_name,
) -> None:
    """Run the custom job `spec` built, evaluate its model on `data`'s test split and, when the
    primary metric passes the gate, register it (a new version when the name exists).

    Tasks: `train_task` (`CustomTrainingJobOp`), `model-artifact`, `evaluate`, `metric-gate`
    and, under the `metric-passes` condition, `register_version`'s tasks labelled with
    `pipeline_name`.
    """
    train = ops.CustomTrainingJobOp(
        project=project,
        location=location,
        display_name=f"{pipeline_name}-trainer",
        worker_pool_specs=spec.outputs["worker_pool_specs"],
        base_output_directory=spec.outputs["base_output_directory"],
        timeout=timeout,
    ).set_display_name(train_task)

    model = (
        unmanaged_container_model(model_dir=spec.outputs["model_dir"], serving_image=serving_image)
        .after(train)
        .set_display_name("model-artifact")
    )

    evaluation = evaluate_model(
        model=model.outputs["model"],
        test=data.outputs["test"],
        task=task,
        target_column=target_column,
        exclude_columns=exclude_columns,
        primary_metric=primary_metric,
    ).set_display_name("evaluate")

    gate = metric_gate(
        value=evaluation.outputs["primary_metric_value"],
        threshold=metric_threshold,
        goal=metric_goal,
    ).set_display_name("metric-gate")

    with dsl.If(gate.output == "pass", name="metric-passes"):
        register_version(
            pipeline_name=pipeline_name,
            project=project,
            location=location,
            model_display_name=model_display_name,
            model=model.outputs["model"],
        )
