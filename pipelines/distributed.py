"""The distributed pipeline: train data-parallel on a primary and workers, evaluate, upload.

Steps:
    1. `load_dataset`: split the source into train / validation / test Parquet datasets.
    2. `distributed_job_spec`: build and validate the primary + workers (+ Reduction Server)
       payload, data wired in.
    3. `CustomTrainingJobOp`: run every replica (a Vertex custom job, or locally one process
       per replica with the cluster environment); by default XGBoost's collective trains one
       model across the replicas and the primary writes `model.bst`.
    4. `unmanaged_container_model`: point a model artifact at `AIP_MODEL_DIR`.
    5. `evaluate_model`: score the model on the test split.
    6. `metric_gate`: compare the primary metric with the threshold.
    7. Only when the gate passes: look the model up by display name and upload a new version
       of it (`parent_model`), or a new model when there is none (`ModelUploadOp`).
"""

from kfp import dsl

from vtp import defaults as config
from vtp.components.data import load_dataset
from vtp.components.training.distributed_job_spec import distributed_job_spec
from vtp.pipelines._steps import train_evaluate_register
from vtp.shipped import SAMPLE_DATA_SOURCE

NAME = "distributed"


def build():
    """The distributed pipeline, for Vertex AI (`vtp run --local` runs its compiled YAML)."""

    @dsl.pipeline(name=NAME, description=__doc__.splitlines()[0])
    def distributed(
        project: str,
        location: str = config.DEFAULT_LOCATION,
        staging_root: str = "",
        data_source: str = SAMPLE_DATA_SOURCE,
        train_fraction: float = 0.8,
        validation_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 42,
        split_key_column: str = "",
        trainer_image: str = config.DISTRIBUTED_TRAINER_IMAGE,
        trainer_command: list = [],
        trainer_args: list = list(config.REFERENCE_TRAINER_ARGS),
        package_uris: list = [],
        python_module: str = "",
        executor_image_uri: str = "",
        machine_type: str = "n1-standard-4",
        worker_count: int = 2,
        worker_machine_type: str = "",
        accelerator_type: str = "",
        accelerator_count: int = 0,
        reduction_server_count: int = 0,
        reduction_server_machine_type: str = "n1-highcpu-16",
        hyperparameters: dict = {},
        timeout: str = "86400s",
        task: str = "auto",
        data_format: str = "csv",
        target_column: str = "target",
        exclude_columns: str = "id",
        primary_metric: str = "auc",
        metric_goal: str = "maximize",
        metric_threshold: float = 0.9,
        serving_image: str = config.XGBOOST_SERVING_IMAGE,
        model_display_name: str = "breast-cancer-distributed",
    ):
        """Trains on a primary and workers, evaluates and (past the threshold) registers a model.

        Args:
            project: Google Cloud project of the Vertex resources.
            location: Vertex AI region.
            staging_root: `gs://` directory for job outputs; empty uses the pipeline root.
            data_source: CSV / Parquet / JSONL file or wildcard, local path or `gs://`, or a
                dataset shipped with vtp (`sample://NAME`, read from the installed package).
            train_fraction: Share of rows for training.
            validation_fraction: Share of rows for validation.
            test_fraction: Share of rows for the test split.
            split_seed: Seed of the row split.
            split_key_column: Hash this column to split; empty splits by row position.
            trainer_image: Image of the primary and the workers, run with its own ENTRYPOINT.
            trainer_command: Replaces the image's ENTRYPOINT; empty runs the ENTRYPOINT.
            trainer_args: The trainer's arguments (the reference trainer's flags by default);
                the hyperparameters follow as `--<name>=<value>`.
            package_uris: `gs://` source distributions of a Python package trainer.
            python_module: Module a Python package trainer runs; setting it chooses the
                package over `trainer_image`.
            executor_image_uri: Prebuilt training container of a Python package trainer.
            machine_type: Machine of the primary (and of the workers by default).
            worker_count: Workers besides the primary (at least 1).
            worker_machine_type: Machine of the workers; empty: `machine_type`.
            accelerator_type: GPU of each primary and worker replica, empty for none.
            accelerator_count: GPUs per primary and worker replica.
            reduction_server_count: Reduction Server replicas on Vertex (needs GPU workers);
                0 for none. Not started locally.
            reduction_server_machine_type: Machine of the Reduction Server replicas.
            hyperparameters: Trainer hyperparameters, appended to `trainer_args` as
                `--<name>=<value>` (empty: the trainer's own defaults).
            timeout: Maximum training time (`3600s`).
            task: `auto` (detected from the target), `binary`, `multiclass` or `regression`.
            data_format: Format of the split shards the trainer reads (`AIP_DATA_FORMAT`):
                `csv` (Vertex's default), `jsonl`, or `parquet` (vtp's extension).
            target_column: Label column.
            exclude_columns: Comma-separated columns that are not features.
            primary_metric: Test metric the gate compares, one of the task's (`auc`,
                `f1_macro`, `rmse`...).
            metric_goal: `maximize` or `minimize` the primary metric.
            metric_threshold: The bar the primary metric must meet to upload.
            serving_image: Prediction container of the uploaded model.
            model_display_name: Display name of the registered model; a run whose model
                exists uploads a new version of it.
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
        ).set_display_name("load-dataset")

        spec = distributed_job_spec(
            train=data.outputs["train"],
            validation=data.outputs["validation"],
            test=data.outputs["test"],
            trainer_image=trainer_image,
            trainer_command=trainer_command,
            trainer_args=trainer_args,
            package_uris=package_uris,
            python_module=python_module,
            executor_image_uri=executor_image_uri,
            machine_type=machine_type,
            worker_count=worker_count,
            worker_machine_type=worker_machine_type,
            accelerator_type=accelerator_type,
            accelerator_count=accelerator_count,
            reduction_server_count=reduction_server_count,
            reduction_server_machine_type=reduction_server_machine_type,
            hyperparameters=hyperparameters,
            staging_root=staging_root,
            timeout=timeout,
        ).set_display_name("distributed-job-spec")

        train_evaluate_register(
            pipeline_name=NAME,
            train_task="train-distributed",
            project=project,
            location=location,
            data=data,
            spec=spec,
            timeout=timeout,
            serving_image=serving_image,
            task=data.outputs["task"],
            target_column=target_column,
            exclude_columns=exclude_columns,
            primary_metric=primary_metric,
            metric_goal=metric_goal,
            metric_threshold=metric_threshold,
            model_display_name=model_display_name,
        )

    return distributed


def check_params(values: dict) -> None:
    """Fails before a run on what a step would reject: the trainer, the distributed job
    payload (layout rules, machines and GPUs, validated against `aiplatform_v1`), the split
    fractions, the task's metric and goal."""
    from vtp.check.params import check_split_and_goal, check_task_and_metric, check_trainer
    from vtp.components.training.distributed_job_spec import distributed_training_job

    check_split_and_goal(values)
    check_task_and_metric(values)
    distributed_training_job(
        trainer=check_trainer(values),
        machine_type=values["machine_type"],
        worker_count=values["worker_count"],
        worker_machine_type=values["worker_machine_type"],
        accelerator_type=values["accelerator_type"],
        accelerator_count=values["accelerator_count"],
        reduction_server_count=values["reduction_server_count"],
        reduction_server_machine_type=values["reduction_server_machine_type"],
        hyperparameters=values["hyperparameters"],
        base_output_directory="gs://bucket/check",
        timeout=values["timeout"],
    )
