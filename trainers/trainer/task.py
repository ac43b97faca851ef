"""Entry point of the reference trainer: `python -m trainer.task [--name=value ...]`.

Follows the Vertex AI training contract: data from `AIP_TRAINING_DATA_URI` /
`AIP_VALIDATION_DATA_URI` in the format of `AIP_DATA_FORMAT` (csv, jsonl or parquet shards),
the model into `AIP_MODEL_DIR` (`model.joblib` for Vertex's prebuilt scikit-learn prediction
container, plus `model_metadata.json`), the validation metrics reported with
cloudml-hypertune for hyperparameter tuning. Binary, multi-class and regression targets (the
task is detected from the target unless `--task` says it); string features are categorical.
Flags override the environment variables.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence

import hypertune
import joblib
import numpy as np
import sklearn
from sklearn.model_selection import train_test_split

from trainer import TrainerError, data, model

log = logging.getLogger("trainer")

MODEL_FILE = "model.joblib"
METADATA_FILE = "model_metadata.json"
LOGS_METRICS_FILE = "metrics.json"
HOLDOUT_SEED = 0


def integer(text: str) -> int:
    """`'64'` or `'64.0'` -> 64 (Vertex sends integer parameters as doubles)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"must be an integer (64 or 64.0), got {text!r}")
    return int(value)


def optional_integer(text: str) -> int | None:
    """Like `integer`, with `none` or `0` meaning no limit."""
    if text.strip().lower() in ("none", ""):
        return None
    return integer(text) or None


def fraction(text: str) -> float:
    """A float strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}")
    return value


def add_flag(group, name: str, **kwargs) -> None:
    """Adds `--name`, plus `--name_with_underscores` (Vertex parameter ids often use them)."""
    flags = [f"--{name}"]
    if "-" in name:
        flags.append(f"--{name.replace('-', '_')}")
    group.add_argument(*flags, **kwargs)


def add_data_flags(p: argparse.ArgumentParser, model_dir_help: str):
    """The data and output flags every vtp trainer takes; returns their argument group."""
    io = p.add_argument_group("data and outputs (default: the AIP_* environment variables)")
    add_flag(
        io, "training-data", help="Parquet/CSV file, directory or wildcard; $AIP_TRAINING_DATA_URI"
    )
    add_flag(
        io,
        "validation-data",
        help="same forms; $AIP_VALIDATION_DATA_URI; when absent, a held-out share of training data",
    )
    add_flag(io, "model-dir", help=f"{model_dir_help}; $AIP_MODEL_DIR")
    add_flag(io, "target-column", default="target", help="label column (default: target)")
    add_flag(
        io,
        "exclude-columns",
        default="id",
        help="comma-separated columns that are not features (default: id)",
    )
    return io


def parser() -> argparse.ArgumentParser:
    """The command line; every flag also accepts underscores (`--max_iter=64`)."""
    p = argparse.ArgumentParser(
        prog="python -m trainer.task",
        description="Trains the reference model under the Vertex AI training contract.",
    )
    io = add_data_flags(p, "where model.joblib goes")
    add_flag(
        io,
        "task",
        default="auto",
        choices=["auto", *model.TASKS],
        help="learning task (default: auto, detected from the target column)",
    )
    add_flag(
        io,
        "metric",
        default="",
        choices=["", *model.ALL_METRICS],
        help="validation metric reported every --report-every iterations (default: auc, "
        "f1_macro or rmse by task); every metric of the task is reported at the end, each "
        "as its own hypertune tag",
    )
    add_flag(
        io,
        "validation-fraction",
        type=fraction,
        default=0.2,
        help="share of training rows held out when there is no validation data (default: 0.2)",
    )
    add_flag(
        io,
        "report-every",
        type=integer,
        default=10,
        help="also report the metric every N boosting iterations, 0 = final only (default: 10)",
    )

    hp = p.add_argument_group("hyperparameters (HistGradientBoostingClassifier / Regressor)")
    defaults = model.HyperParameters()
    add_flag(hp, "learning-rate", type=float, default=defaults.learning_rate)
    add_flag(hp, "max-iter", type=integer, default=defaults.max_iter)
    add_flag(
        hp, "max-depth", type=optional_integer, default=defaults.max_depth, help="0/none: no limit"
    )
    add_flag(
        hp,
        "max-leaf-nodes",
        type=optional_integer,
        default=defaults.max_leaf_nodes,
        help="0/none: no limit",
    )
    add_flag(hp, "l2-regularization", type=float, default=defaults.l2_regularization)
    add_flag(hp, "min-samples-leaf", type=integer, default=defaults.min_samples_leaf)
    add_flag(hp, "seed", type=integer, default=defaults.seed, help="random seed of the model")
    return p


def resolve(value: str | None, env: str, flag: str, required: bool = True) -> str | None:
    """The flag's value, else the environment variable's, else an error when required."""
    value = value or os.environ.get(env) or None
    if value is None and required:
        raise TrainerError(f"no {flag}: pass {flag}=URI or set {env}")
    return value


def split_columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def save_model(
    model_uri: str,
    estimator,
    *,
    features: Sequence[str],
    target_column: str,
    exclude_columns: Sequence[str],
    hyperparameters: dict,
    metric: str,
    validation_metrics: dict,
    details: dict,
    task: str = model.BINARY,
) -> dict:
    """Writes `model.joblib`, then `model_metadata.json` (atomically: readers waiting for it see
    a whole file) to `model_uri`, as Vertex's prebuilt scikit-learn container expects; returns
    the metadata."""
    model_dir = data.local_path(model_uri)
    os.makedirs(model_dir, exist_ok=True)
    joblib.dump(estimator, os.path.join(model_dir, MODEL_FILE))
    metadata = {
        "framework": "scikit-learn",
        "framework_version": sklearn.__version__,
        "sklearn_version": sklearn.__version__,
        "python_version": ".".join(map(str, sys.version_info[:3])),
        "estimator": type(getattr(estimator, "steps", [[None, estimator]])[-1][1]).__name__,
        "model_file": MODEL_FILE,
        "task": task,
        "feature_names": list(map(str, features)),
        "target_column": target_column,
        "exclude_columns": list(exclude_columns),
        "hyperparameters": hyperparameters,
        "metric": metric,
        "metric_goal": "MAXIMIZE" if model.METRICS[task][metric] else "MINIMIZE",
        "validation_metrics": validation_metrics,
        **details,
    }
    if hasattr(estimator, "classes_"):
        metadata["classes"] = estimator.classes_.tolist()
    partial = os.path.join(model_dir, f".{METADATA_FILE}.partial")
    write_json(partial, metadata)
    os.replace(partial, os.path.join(model_dir, METADATA_FILE))
    log.info("wrote %s and %s to %s", MODEL_FILE, METADATA_FILE, model_uri)
    return metadata


def write_json(path: str, payload: dict) -> None:
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.write("\n")


def run(args: argparse.Namespace) -> dict:
    """Trains, evaluates, saves and reports. Returns the metadata written next to the model."""
    train_uri = resolve(args.training_data, "AIP_TRAINING_DATA_URI", "--training-data")
    val_uri = resolve(
        args.validation_data, "AIP_VALIDATION_DATA_URI", "--validation-data", required=False
    )
    model_uri = resolve(args.model_dir, "AIP_MODEL_DIR", "--model-dir")
    declared = os.environ.get(data.FORMAT_ENV) or None
    target = args.target_column
    excluded = split_columns(args.exclude_columns)
    hp = model.HyperParameters(
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        max_depth=args.max_depth,
        max_leaf_nodes=args.max_leaf_nodes,
        l2_regularization=args.l2_regularization,
        min_samples_leaf=args.min_samples_leaf,
        seed=args.seed,
    )
    trial = os.environ.get("CLOUD_ML_TRIAL_ID")
    log.info("trial %s, hyperparameters %s", trial or "-", json.dumps(hp.as_dict()))

    log.info("reading training data %s (format %s)", train_uri, declared or "by file")
    train = data.read_table(train_uri, declared)
    features = data.feature_columns(train, target, excluded)
    task = args.task if args.task != "auto" else data.detect_task(train[target])
    metric = args.metric or model.DEFAULT_METRICS[task]
    model.check_metric(task, metric)
    categorical = data.categorical_columns(train, features)
    x, y = data.xy(train, features, target, "training", task)
    log.info(
        "training data: %d rows, %d features (%d categorical), target %r, task %s",
        len(x),
        len(features),
        len(categorical),
        target,
        task,
    )
    if val_uri:
        log.info("reading validation data %s", val_uri)
        frame = data.read_table(val_uri, declared)
        x_val, y_val = data.xy(frame, features, target, "validation", task)
        validation = {"source": val_uri, "rows": len(x_val)}
    else:
        x, x_val, y, y_val = holdout(x, y, args.validation_fraction, task)
        validation = {"source": "holdout", "fraction": args.validation_fraction, "rows": len(x_val)}
        log.info("no validation data: held out %d of %d rows", len(x_val), len(x_val) + len(x))

    started = time.monotonic()
    positions = [features.index(c) for c in categorical]
    estimator = model.fit(hp, task, x, y, positions)
    booster = model.booster_of(estimator)
    classes = getattr(estimator, "classes_", None)
    log.info(
        "trained in %.2fs: %d iterations%s",
        time.monotonic() - started,
        booster.n_iter_,
        f", classes {classes.tolist()}" if classes is not None else "",
    )
    if classes is not None:
        model.check_labels(y_val, classes, "validation")

    tuner = hypertune.HyperTune()
    curve = []
    for step, value in model.staged_scores(
        estimator, task, x_val, y_val, metric, args.report_every
    ):
        tuner.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag=metric, metric_value=value, global_step=step
        )
        curve.append([step, value])
        log.info("iteration %d: validation %s=%.6f", step, metric, value)
    predicted = model.predictions(estimator, task, x_val)
    scores = model.all_scores(task, y_val, predicted, classes)
    if metric not in scores:
        scores[metric] = model.score(metric, task, y_val, predicted, classes)  # says why not
    log.info("validation metrics: %s", json.dumps(scores, sort_keys=True))

    metadata = save_model(
        model_uri,
        estimator,
        features=features,
        target_column=target,
        exclude_columns=excluded,
        hyperparameters=hp.as_dict(),
        metric=metric,
        validation_metrics=scores,
        task=task,
        details={
            "categorical_features": categorical,
            "n_iter": int(booster.n_iter_),
            "training_rows": len(x),
            "validation": validation,
            "trial_id": trial,
        },
    )

    step = int(booster.n_iter_)
    for name, value in sorted(scores.items(), key=lambda kv: kv[0] == metric):
        tuner.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag=name, metric_value=value, global_step=step
        )
    curve.append([step, scores[metric]])
    log.info(
        "reported %s at step %d to %s (%s=%.6f)",
        ", ".join(sorted(scores)),
        step,
        tuner.metric_path,
        metric,
        scores[metric],
    )
    write_side_outputs(metric, curve, scores)
    return metadata


def holdout(x: np.ndarray, y: np.ndarray, share: float, task: str = model.BINARY):
    """A deterministic split, stratified for classes when possible:
    `x_train, x_val, y_train, y_val`."""
    stratify = None
    if task != model.REGRESSION:
        _, counts = np.unique(y, return_counts=True)
        n_val = int(np.ceil(share * len(y)))
        stratify = y if counts.min() >= 2 and len(counts) <= n_val else None
    try:
        return train_test_split(x, y, test_size=share, random_state=HOLDOUT_SEED, stratify=stratify)
    except ValueError as e:
        raise TrainerError(
            f"cannot hold out {share:.0%} of {len(y)} training rows for validation: {e}"
        ) from e


def write_side_outputs(metric: str, curve: list, scores: dict) -> None:
    """The metric curve in `$AIP_TENSORBOARD_LOG_DIR` when set; notes the checkpoint dir."""
    logs_uri = os.environ.get("AIP_TENSORBOARD_LOG_DIR")
    if logs_uri:
        logs_dir = data.local_path(logs_uri)
        os.makedirs(logs_dir, exist_ok=True)
        payload = {"metric": metric, "curve": curve, "final": scores}
        write_json(os.path.join(logs_dir, LOGS_METRICS_FILE), payload)
        log.info("wrote %s to %s", LOGS_METRICS_FILE, logs_uri)
    checkpoint_uri = os.environ.get("AIP_CHECKPOINT_DIR")
    if checkpoint_uri:
        log.info("checkpoints: none needed (one pass of training), %s left empty", checkpoint_uri)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    args = parser().parse_args(argv)
    try:
        run(args)
    except TrainerError as e:
        print(f"trainer: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
