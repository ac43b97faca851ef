"""The tuning pipeline: tune the trainer, keep the best model, promote it if it beats the champion.

Steps:
    1. `load_dataset`: split the source into train / validation / test.
    2. `training_job_spec`: the trainer's worker pool specs (an image with its own entrypoint,
       or a Python package on a prebuilt image), data wired in.
    3. `HyperparameterTuningJobRunOp`: the study (Vertex Vizier, or Optuna locally).
    4. `GetTrialsOp`, `get_best_trial`, `trials_report`: the trials, the best one, a report.
    5. The final model, as `final_model` says: `best_trial` takes the best trial's model
       (`<base>/<trial_id>/model/`); `retrain` trains again with the best values on
       train + validation.
    6. `evaluate_model`: the challenger on the test split.
    7. `ChampionLookupOp`: the model version holding `default` under `model_display_name`.
    8. When there is one, it is evaluated on the same test split and `challenger_decision`
       compares them; the challenger is uploaded as a new version of that model, taking
       `default` and `champion` only when it wins (else it is labelled `challenger`).
       Without a champion the challenger is the model's first version.
"""

from kfp import dsl

from vtp import defaults as config
from vtp.components.data import load_dataset
from vtp.components.data.merge import merge_datasets
from vtp.components.evaluation import evaluate_model
from vtp.components.models.challenger_decision import challenger_decision, decision_aliases
from vtp.components.models.champion_model import champion_model
from vtp.components.targets import VERTEX as ops
from vtp.components.training import training_job_spec, unmanaged_container_model
from vtp.components.training.model_dir import checked_model_dir
from vtp.components.tuning.ops import (
    best_trial_model_dir,
    get_best_hyperparameters,
    get_best_trial,
    get_worker_pool_specs,
    trials_report,
)
from vtp.components.tuning.study import (
    DoubleParameter,
    IntegerParameter,
    MetricSpec,
    StudySpec,
    TuningJobSpec,
)
from vtp.shipped import SAMPLE_DATA_SOURCE

NAME = "tuning"
FINAL_MODELS = ("best_trial", "retrain")

#: The reference trainer's search space; override with the `study_spec_*` parameters.
STUDY = StudySpec(
    metrics=[MetricSpec("auc", "MAXIMIZE")],
    parameters=[
        DoubleParameter("learning_rate", 0.01, 0.3, scale="UNIT_LOG_SCALE"),
        IntegerParameter("max_iter", 20, 200),
        IntegerParameter("max_leaf_nodes", 4, 48),
    ],
)


def build():
    """The tuning pipeline, for Vertex AI (`vtp run --local` runs its compiled YAML)."""
    study = STUDY.op_inputs()

    @dsl.pipeline(name=NAME, description=__doc__.splitlines()[0])
    def tuning(
        project: str,
        location: str = config.DEFAULT_LOCATION,
        staging_root: str = "",
        data_source: str = SAMPLE_DATA_SOURCE,
        train_fraction: float = 0.7,
        validation_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 42,
        split_key_column: str = "",
        trainer_image: str = config.TRAINER_IMAGE,
        trainer_command: list = [],
        trainer_args: list = list(config.REFERENCE_TRAINER_ARGS),
        package_uris: list = [],
        python_module: str = "",
        executor_image_uri: str = "",
        machine_type: str = "n1-standard-4",
        timeout: str = "86400s",
        study_spec_metrics: list = study["study_spec_metrics"],
        study_spec_parameters: list = study["study_spec_parameters"],
        study_spec_algorithm: str = study["study_spec_algorithm"],
        study_spec_measurement_selection_type: str = study["study_spec_measurement_selection_type"],
        max_trial_count: int = 6,
        parallel_trial_count: int = 2,
        max_failed_trial_count: int = 0,
        final_model: str = "best_trial",
        task: str = "auto",
        data_format: str = "csv",
        target_column: str = "target",
        exclude_columns: str = "id",
        primary_metric: str = "auc",
        metric_goal: str = "maximize",
        min_improvement: float = 0.0,
        serving_image: str = config.SKLEARN_SERVING_IMAGE,
        model_display_name: str = "breast-cancer-classifier",
    ):
        """Tunes, picks the final model and runs champion/challenger against the registry.

        Args:
            project: Google Cloud project of the Vertex resources.
            location: Vertex AI region.
            staging_root: `gs://` directory for job outputs; empty uses the pipeline root.
            data_source: CSV / Parquet / JSONL file or wildcard, local path or `gs://`, or a
                dataset shipped with vtp (`sample://NAME`, read from the installed package).
            train_fraction: Share of rows for training.
            validation_fraction: Share of rows the trials are scored on.
            test_fraction: Share of rows for the final evaluation.
            split_seed: Seed of the row split.
            split_key_column: Hash this column to split; empty splits by row position.
            trainer_image: Training container image, run with its own ENTRYPOINT.
            trainer_command: Replaces the image's ENTRYPOINT; empty runs the ENTRYPOINT.
            trainer_args: The trainer's arguments (the reference trainer's flags by default);
                each trial's values follow as `--<parameter_id>=<value>`.
            package_uris: `gs://` source distributions of a Python package trainer.
            python_module: Module a Python package trainer runs; setting it chooses the
                package over `trainer_image`.
            executor_image_uri: Prebuilt training container of a Python package trainer.
            machine_type: Machine of each trial.
            timeout: Maximum time of the final re-train.
            study_spec_metrics: Metrics to optimise (GCPC `serialize_metrics` form).
            study_spec_parameters: Search space (GCPC `serialize_parameters` form).
            study_spec_algorithm: ALGORITHM_UNSPECIFIED (Bayesian), GRID_SEARCH or RANDOM_SEARCH.
            study_spec_measurement_selection_type: BEST_MEASUREMENT or LAST_MEASUREMENT.
            max_trial_count: Trials in all.
            parallel_trial_count: Trials at once.
            max_failed_trial_count: Failed trials tolerated (0: the service decides).
            final_model: `best_trial` (reuse its model) or `retrain` (train + validation).
            task: `auto` (detected from the target), `binary`, `multiclass` or `regression`.
            data_format: Format of the split shards the trainer reads (`AIP_DATA_FORMAT`):
                `csv` (Vertex's default), `jsonl`, or `parquet` (vtp's extension).
            target_column: Label column.
            exclude_columns: Comma-separated columns that are not features.
            primary_metric: Test metric compared with the champion's, one of the task's.
            metric_goal: `maximize` or `minimize` the primary metric.
            min_improvement: How much the challenger must beat the champion by.
            serving_image: Prediction container of the uploaded model.
            model_display_name: Display name of the registered model.
        """
        data = load_dataset(
            source=data_source,
            train_fraction=train_fraction,
            validation_fraction=validation_fraction,
            test_fraction=test_fraction,
            seed=split_seed,
            key_column=split_key_column,
            target_column=target_column,
            task=task,
            primary_metric=primary_metric,
            metric_goal=metric_goal,
            data_format=data_format,
        )

        def job_spec(train, output_name: str, display_name: str):
            return training_job_spec(
                train=train,
                validation=data.outputs["validation"],
                test=data.outputs["test"],
                trainer_image=trainer_image,
                trainer_command=trainer_command,
                trainer_args=trainer_args,
                package_uris=package_uris,
                python_module=python_module,
                executor_image_uri=executor_image_uri,
                machine_type=machine_type,
                staging_root=staging_root,
                timeout=timeout,
                output_name=output_name,
            ).set_display_name(display_name)

        trial_spec = job_spec(data.outputs["train"], "tuning-job", "trial-job-spec")
        tune = ops.HyperparameterTuningJobRunOp(
            project=project,
            location=location,
            display_name=f"{NAME}-study",
            base_output_directory=trial_spec.outputs["base_output_directory"],
            worker_pool_specs=trial_spec.outputs["worker_pool_specs"],
            study_spec_metrics=study_spec_metrics,
            study_spec_parameters=study_spec_parameters,
            study_spec_algorithm=study_spec_algorithm,
            study_spec_measurement_selection_type=study_spec_measurement_selection_type,
            max_trial_count=max_trial_count,
            parallel_trial_count=parallel_trial_count,
            max_failed_trial_count=max_failed_trial_count,
        ).set_display_name("tune")
        trials = ops.GetTrialsOp(gcp_resources=tune.outputs["gcp_resources"])
        best = get_best_trial(trials=trials.output, study_spec_metrics=study_spec_metrics)
        trials_report(
            trials=trials.output,
            study_spec_metrics=study_spec_metrics,
            study_spec_parameters=study_spec_parameters,
        )

        with dsl.If(final_model == "best_trial", name="reuse-best-trial"):
            best_dir = best_trial_model_dir(
                best_trial=best.output,
                base_output_directory=trial_spec.outputs["base_output_directory"],
            )
        with dsl.Else(name="retrain"):
            merged = merge_datasets(first=data.outputs["train"], second=data.outputs["validation"])
            final_spec = job_spec(merged.outputs["merged"], "final-training", "final-job-spec")
            best_values = get_best_hyperparameters(
                trials=trials.output, study_spec_metrics=study_spec_metrics
            )
            final_specs = get_worker_pool_specs(
                best_hyperparameters=best_values.output,
                worker_pool_specs=final_spec.outputs["worker_pool_specs"],
            )
            final_job = ops.CustomTrainingJobOp(
                project=project,
                location=location,
                display_name=f"{NAME}-final-training",
                worker_pool_specs=final_specs.output,
                base_output_directory=final_spec.outputs["base_output_directory"],
                timeout=timeout,
            ).set_display_name("retrain")
            retrained_dir = checked_model_dir(
                model_dir=final_spec.outputs["model_dir"], serving_image=serving_image
            ).after(final_job)
        # The branches meet on the model directory (a string), checked for the serving image
        # on either side; one step then makes the model artifact the evaluation and upload use.
        model_artifact = unmanaged_container_model(
            model_dir=dsl.OneOf(best_dir.output, retrained_dir.output),
            serving_image=serving_image,
        )
        model = model_artifact.outputs["model"]

        def evaluate_on_test(candidate, display_name: str):
            return evaluate_model(
                model=candidate,
                test=data.outputs["test"],
                task=data.outputs["task"],
                target_column=target_column,
                exclude_columns=exclude_columns,
                primary_metric=primary_metric,
            ).set_display_name(display_name)

        challenger = evaluate_on_test(model, "evaluate-challenger")
        lookup = ops.ChampionLookupOp(
            project=project, location=location, model_display_name=model_display_name
        ).set_display_name("champion-lookup")

        with dsl.If(lookup.outputs["Output"] == "found", name="champion-exists"):
            champion = champion_model(champion=lookup.outputs["champion"])
            champion_eval = evaluate_on_test(champion.outputs["model"], "evaluate-champion")
            decision = challenger_decision(
                challenger_value=challenger.outputs["primary_metric_value"],
                champion_value=champion_eval.outputs["primary_metric_value"],
                champion_found=lookup.outputs["Output"],
                goal=metric_goal,
                min_improvement=min_improvement,
            )
            aliases = decision_aliases(decision=decision.output)
            ops.ModelUploadOp(
                project=project,
                location=location,
                display_name=model_display_name,
                unmanaged_container_model=model,
                parent_model=lookup.outputs["champion"],
                version_aliases=aliases.output,
                labels={"pipeline": NAME},
            ).set_display_name("upload-new-version")
        with dsl.Else(name="first-model"):
            ops.ModelUploadOp(
                project=project,
                location=location,
                display_name=model_display_name,
                unmanaged_container_model=model,
                version_aliases=["default", "champion"],
                labels={"pipeline": NAME},
            ).set_display_name("upload-first-model")

    return tuning


def check_params(values: dict) -> None:
    """Fails before a run on a trainer, study, split or choice that a step would reject."""
    from vtp.check.params import (
        check_split_and_goal,
        check_task_and_metric,
        check_trainer,
        flag_values,
    )
    from vtp.components.training.payload import training_job
    from vtp.errors import SpecError

    check_split_and_goal(values)
    check_task_and_metric(values)
    if values["final_model"] not in FINAL_MODELS:
        raise SpecError("final_model", values["final_model"], f"must be one of {FINAL_MODELS}")
    study = StudySpec.from_dict(
        {
            "metrics": values["study_spec_metrics"],
            "parameters": values["study_spec_parameters"],
            "algorithm": values["study_spec_algorithm"],
            "measurement_selection_type": values["study_spec_measurement_selection_type"],
        }
    )
    TuningJobSpec(
        study=study,
        max_trial_count=values["max_trial_count"],
        parallel_trial_count=values["parallel_trial_count"],
        max_failed_trial_count=values["max_failed_trial_count"],
    ).validate()
    trainer = check_trainer(values)
    tag = study.primary.metric_id
    for given in flag_values(trainer.trainer_args, "--metric"):
        if given != tag:
            raise SpecError(
                "trainer_args",
                list(trainer.trainer_args),
                f"must make the trainer report the study's metric {tag!r} (study_spec_metrics): "
                f"it passes --metric={given}",
            )
    training_job(
        trainer=trainer,
        machine_type=values["machine_type"],
        base_output_directory="gs://bucket/check",
        timeout=values["timeout"],
    )
