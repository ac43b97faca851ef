"""Entry point of the distributed example trainer: `python -m trainer.distributed.task`.

Data-parallel gradient boosting with XGBoost's own distributed mode (its collective, the
communicator behind XGBoost on Dask, Spark and Ray): every replica of the custom job runs this
module; `CLUSTER_SPEC` (or `MASTER_ADDR` / `MASTER_PORT` / `RANK` / `WORLD_SIZE`) tells each its
rank. The primary starts XGBoost's tracker on its own host (`workerpool0` in `CLUSTER_SPEC`,
which is `MASTER_ADDR`) and tells the workers its port on `MASTER_PORT` (`rendezvous.py`:
XGBoost 2.1, the version Vertex's prebuilt XGBoost serving image holds, picks the tracker's
port itself), every rank joins it and trains on its shard of the training rows; XGBoost
all-reduces the quantile sketches and the gradient histograms, so every rank grows the same
trees: ONE model, trained on all the rows. At the end
every rank's model digest is compared with the primary's; the primary writes `model.bst`
(served by Vertex's prebuilt XGBoost container) and `model_metadata.json` to `AIP_MODEL_DIR`
and reports every validation metric of the task with cloudml-hypertune. Evaluators (pool 3)
wait for the model and log its validation metrics; a parameter-server pool is refused.
Without any cluster variable it trains alone on all the rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import time
import warnings
from collections.abc import Sequence

import numpy as np

from trainer import TrainerError, data, model
from trainer.distributed import cluster as clusters
from trainer.distributed import rendezvous
from trainer.task import (
    LOGS_METRICS_FILE,
    METADATA_FILE,
    add_data_flags,
    add_flag,
    fraction,
    holdout,
    integer,
    resolve,
    split_columns,
    write_json,
)

log = logging.getLogger("trainer.distributed")

MODEL_FILE = "model.bst"
EVALUATOR_POLL_S = 0.5
CONTRACT_VARIABLES = (
    "CLUSTER_SPEC",
    "TF_CONFIG",
    "MASTER_ADDR",
    "MASTER_PORT",
    "WORLD_SIZE",
    "RANK",
)
OBJECTIVES = {
    model.BINARY: "binary:logistic",
    model.MULTICLASS: "multi:softprob",
    model.REGRESSION: "reg:squarederror",
}


def seconds(text: str) -> float:
    """A number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def boolean(text: str) -> bool:
    """`true`/`false` (also 1/0, yes/no), as hyperparameters arrive."""
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")


def parser() -> argparse.ArgumentParser:
    """The command line; every flag also accepts underscores (`--max_depth=4`)."""
    p = argparse.ArgumentParser(
        prog="python -m trainer.distributed.task",
        description="Distributed XGBoost under the Vertex AI training contract.",
    )
    io = add_data_flags(p, "where the primary writes model.bst")
    add_flag(io, "task", default="auto", choices=["auto", *model.TASKS], help="(auto)")
    add_flag(io, "metric", default="", choices=["", *model.ALL_METRICS], help="(by task)")
    add_flag(io, "validation-fraction", type=fraction, default=0.2, help="held-out share (0.2)")
    add_flag(io, "report-every", type=integer, default=10, help="report the metric every N rounds")

    hp = p.add_argument_group("hyperparameters (XGBoost, tree_method=hist)")
    add_flag(hp, "num-boost-round", type=integer, default=100, help="boosting rounds (100)")
    add_flag(hp, "learning-rate", type=float, default=0.1, help="eta (0.1)")
    add_flag(hp, "max-depth", type=integer, default=6, help="(6)")
    add_flag(hp, "min-child-weight", type=float, default=1.0, help="(1)")
    add_flag(hp, "reg-lambda", type=float, default=1.0, help="L2 regularization (1)")
    add_flag(hp, "subsample", type=float, default=1.0, help="row sampling per tree (1)")
    add_flag(hp, "max-bin", type=integer, default=256, help="histogram bins per feature (256)")
    add_flag(hp, "seed", type=integer, default=0, help="(0)")

    group = p.add_argument_group("the replica group")
    add_flag(
        group,
        "rendezvous-timeout",
        type=seconds,
        default=300.0,
        help="seconds the tracker waits for every replica to join (300)",
    )
    add_flag(
        group,
        "evaluator-timeout",
        type=seconds,
        default=3600.0,
        help="seconds an evaluator waits for the primary's model (3600)",
    )
    add_flag(
        group,
        "log-environment",
        type=boolean,
        nargs="?",
        const=True,
        default=False,
        help="log the cluster variables this replica sees (CLUSTER_SPEC, TF_CONFIG, MASTER_*, "
        "AIP_*); also --log-environment=true, as a hyperparameter",
    )
    add_flag(group, "fail-rank", type=integer, help="testing: this rank kills itself (SIGKILL) ...")
    add_flag(group, "fail-at-round", type=integer, help="... at the start of this round")
    return p


def booster_params(args: argparse.Namespace, task: str, classes: int) -> dict:
    params = {
        "objective": OBJECTIVES[task],
        "tree_method": "hist",
        "eta": args.learning_rate,
        "max_depth": args.max_depth,
        "min_child_weight": args.min_child_weight,
        "lambda": args.reg_lambda,
        "subsample": args.subsample,
        "max_bin": args.max_bin,
        "seed": args.seed,
        "nthread": 1,
    }
    if task == model.MULTICLASS:
        params["num_class"] = classes
    return params


def run(args: argparse.Namespace) -> dict | None:
    """Runs this replica's role. Returns the model metadata on the primary, else None."""
    if args.log_environment:
        log.info("environment: %s", json.dumps(contract_environment(), sort_keys=True))
    where = clusters.from_env()
    log.info(
        "replica %s: role %s, rank %s of world size %d, primary %s:%d",
        where.name,
        where.role,
        "-" if where.rank is None else where.rank,
        where.world_size,
        where.primary_host,
        where.primary_port,
    )
    if where.role == clusters.PARAMETER_SERVER:
        raise TrainerError(
            f"{where.name} is a parameter server, but XGBoost synchronises by all-reduce and "
            "has no use for one: remove worker_pool_specs[2], or put the Reduction Server "
            "image there (evaluators after an unused {} pool 2 land here when GCPC's launcher "
            "drops the empty pool)"
        )
    if where.role == clusters.EVALUATOR:
        evaluate_when_ready(args, where)
        return None
    check_failure_flags(args, where)

    train_uri = resolve(args.training_data, "AIP_TRAINING_DATA_URI", "--training-data")
    val_uri = resolve(
        args.validation_data, "AIP_VALIDATION_DATA_URI", "--validation-data", required=False
    )
    model_uri = resolve(args.model_dir, "AIP_MODEL_DIR", "--model-dir", where.is_primary)
    declared = os.environ.get(data.FORMAT_ENV) or None
    excluded = split_columns(args.exclude_columns)
    table = data.read_table(train_uri, declared)
    features = data.feature_columns(table, args.target_column, excluded)
    strings = data.categorical_columns(table, features)
    if strings:
        raise TrainerError(
            f"feature column(s) {', '.join(strings)} are not numeric: this trainer's model is "
            "served by Vertex's XGBoost container from plain numbers; drop them with "
            "--exclude-columns (the reference trainer, trainer.task, encodes strings)"
        )
    task = args.task if args.task != "auto" else data.detect_task(table[args.target_column])
    metric = args.metric or model.DEFAULT_METRICS[task]
    model.check_metric(task, metric)
    x, y = data.xy(table, features, args.target_column, "training", task)
    classes = np.unique(y) if task != model.REGRESSION else None
    x_val = y_val = None
    if val_uri:
        if where.is_primary:
            frame = data.read_table(val_uri, declared)
            x_val, y_val = data.xy(frame, features, args.target_column, "validation", task)
    else:  # the same deterministic holdout on every rank, before sharding
        x, x_val, y, y_val = holdout(x, y, args.validation_fraction, task)
    labels = y if classes is None else np.searchsorted(classes, y)
    x_shard = x[where.rank :: where.world_size]
    y_shard = labels[where.rank :: where.world_size]
    log.info(
        "rank %d: shard of %d of %d training rows, %d features, task %s",
        where.rank,
        len(x_shard),
        len(x),
        len(features),
        task,
    )

    started = time.monotonic()
    params = booster_params(args, task, 0 if classes is None else len(classes))
    booster, digests = train_group(args, where, params, x_shard, y_shard)
    log.info("rank %d: trained in %.2fs", where.rank, time.monotonic() - started)
    if not where.is_primary:
        return None
    return save(
        args,
        where,
        booster,
        task=task,
        metric=metric,
        classes=classes,
        features=features,
        validation=(x_val, y_val),
        model_uri=model_uri,
        val_uri=val_uri,
        rows=len(x),
        digests=digests,
        params=params,
    )


def train_group(args, where: clusters.Cluster, params: dict, x_shard, y_shard):
    """Train in XGBoost's collective (alone without a group); returns the booster and, on
    the primary, every rank's model digest (all equal, or TrainerError)."""
    import xgboost as xgb
    from xgboost import collective

    dtrain = xgb.DMatrix(x_shard, label=y_shard)
    callbacks = crash_callbacks(args, where.rank)
    if where.world_size == 1:
        booster = xgb.train(params, dtrain, args.num_boost_round, callbacks=callbacks)
        return booster, {where.name: digest(booster)}

    tracker = publisher = None
    if where.is_primary:
        from xgboost.tracker import RabitTracker

        tracker = RabitTracker(
            n_workers=where.world_size,
            host_ip=where.bind_host or "0.0.0.0",  # a host name: every interface
            sortby="task",
            timeout=int(args.rendezvous_timeout),
        )
        tracker.start()
        tracker_port = int(tracker.worker_args()["dmlc_tracker_port"])
        publisher = rendezvous.publish_port(
            where.bind_host, where.primary_port, tracker_port, where.world_size - 1
        )
        log.info(
            "tracker listening on %s:%d, its port published at %s:%d",
            where.primary_host,
            tracker_port,
            where.primary_host,
            where.primary_port,
        )
    else:
        tracker_port = rendezvous.fetch_port(
            where.primary_host, where.primary_port, args.rendezvous_timeout
        )
        log.info("tracker at %s:%d", where.primary_host, tracker_port)
    communicator = {
        "dmlc_tracker_uri": where.primary_host,
        "dmlc_tracker_port": tracker_port,
        "dmlc_task_id": f"{where.rank:05d}",
        "dmlc_retry": 50,
        "dmlc_timeout": int(args.rendezvous_timeout),
    }
    with collective.CommunicatorContext(**communicator):
        if collective.get_rank() != where.rank:
            raise TrainerError(
                f"XGBoost gave {where.name} rank {collective.get_rank()}, not {where.rank}"
            )
        booster = xgb.train(params, dtrain, args.num_boost_round, callbacks=callbacks)
        mine = digest(booster)
        gathered = np.asarray(
            collective.allreduce(
                _digest_matrix(mine, where.rank, where.world_size).ravel(), collective.Op.SUM
            )
        ).reshape(where.world_size, 32)
        rows = collective.allreduce(
            np.eye(where.world_size)[where.rank] * len(y_shard), collective.Op.SUM
        )
    if tracker is not None:
        tracker.wait_for()
    if publisher is not None:
        publisher.close()
    digests = {
        clusters.replica_name(rank): gathered[rank].astype(np.uint8).tobytes().hex()
        for rank in range(where.world_size)
    }
    log.info("rank %d: model sha256 %s", where.rank, mine)
    if where.is_primary:
        if len(set(digests.values())) != 1:
            raise TrainerError(f"replicas ended with different models: {digests}")
        log.info(
            "XGBoost collective: %d ranks (%s rows) grew the same %d trees, model sha256 %s",
            where.world_size,
            " + ".join(str(int(r)) for r in rows),
            booster.num_boosted_rounds(),
            mine,
        )
    return booster, digests


def digest(booster) -> str:
    """sha256 of the model's JSON (its trees and parameters)."""
    return hashlib.sha256(bytes(booster.save_raw(raw_format="json"))).hexdigest()


def _digest_matrix(hexdigest: str, rank: int, world: int) -> np.ndarray:
    """This rank's digest in its own row of a zero matrix, so a SUM all-reduce gathers them."""
    out = np.zeros((world, 32), dtype=np.float64)
    out[rank] = np.frombuffer(bytes.fromhex(hexdigest), dtype=np.uint8)
    return out


def save(args, where, booster, **kw) -> dict:
    """The primary's part: validation metrics, the model files, the hypertune report."""
    import hypertune
    import xgboost as xgb

    task, metric, classes = kw["task"], kw["metric"], kw["classes"]
    x_val, y_val = kw["validation"]
    if classes is not None:
        model.check_labels(y_val, classes, "validation")
    predicted = booster.predict(xgb.DMatrix(x_val))
    if task == model.BINARY:
        predicted = np.column_stack([1 - predicted, predicted])
    scores = model.all_scores(task, y_val, predicted, classes)
    if metric not in scores:
        scores[metric] = model.score(metric, task, y_val, predicted, classes)  # says why not
    log.info("validation metrics: %s", json.dumps(scores, sort_keys=True))

    model_dir = data.local_path(kw["model_uri"])
    os.makedirs(model_dir, exist_ok=True)
    with warnings.catch_warnings():  # "Saving model in the UBJSON format": what model.bst holds
        warnings.simplefilter("ignore", UserWarning)
        booster.save_model(os.path.join(model_dir, MODEL_FILE))
    metadata = {
        "framework": "xgboost",
        "framework_version": xgb.__version__,
        "python_version": ".".join(map(str, sys.version_info[:3])),
        "model_file": MODEL_FILE,
        "task": task,
        "objective": kw["params"]["objective"],
        "feature_names": list(map(str, kw["features"])),
        "target_column": args.target_column,
        "exclude_columns": split_columns(args.exclude_columns),
        "hyperparameters": {k: v for k, v in kw["params"].items() if k != "nthread"},
        "num_boost_round": booster.num_boosted_rounds(),
        "metric": metric,
        "metric_goal": "MAXIMIZE" if model.METRICS[task][metric] else "MINIMIZE",
        "validation_metrics": scores,
        "training_rows": kw["rows"],
        "validation": {"source": kw["val_uri"] or "holdout", "rows": len(y_val)},
        "trial_id": where.trial,
        "distributed": {"world_size": where.world_size, "model_sha256": kw["digests"]},
    }
    if classes is not None:
        metadata["classes"] = classes.tolist()
    partial = os.path.join(model_dir, f".{METADATA_FILE}.partial")
    write_json(partial, metadata)  # written last, atomically: evaluators wait for it
    os.replace(partial, os.path.join(model_dir, METADATA_FILE))
    log.info("wrote %s and %s to %s", MODEL_FILE, METADATA_FILE, kw["model_uri"])

    tuner = hypertune.HyperTune()
    step = booster.num_boosted_rounds()
    for name, value in sorted(scores.items()):
        tuner.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag=name, metric_value=value, global_step=step
        )
    log.info("reported %s at round %d to %s", ", ".join(sorted(scores)), step, tuner.metric_path)
    logs_uri = os.environ.get("AIP_TENSORBOARD_LOG_DIR")
    if logs_uri:
        logs_dir = data.local_path(logs_uri)
        os.makedirs(logs_dir, exist_ok=True)
        payload = {"metric": metric, "curve": [[step, scores[metric]]], "final": scores}
        write_json(os.path.join(logs_dir, LOGS_METRICS_FILE), payload)
    return metadata


def evaluate_when_ready(args: argparse.Namespace, where: clusters.Cluster) -> None:
    """An evaluator: wait for the primary's model, then log its validation metrics."""
    import xgboost as xgb

    model_uri = resolve(args.model_dir, "AIP_MODEL_DIR", "--model-dir")
    val_uri = resolve(args.validation_data, "AIP_VALIDATION_DATA_URI", "--validation-data")
    model_dir = data.local_path(model_uri)
    ready = os.path.join(model_dir, METADATA_FILE)
    deadline = time.monotonic() + args.evaluator_timeout
    log.info("%s: waiting for the primary's model in %s", where.name, model_uri)
    while not os.path.isfile(ready):
        if time.monotonic() > deadline:
            raise TrainerError(
                f"{where.name}: no model in {model_uri} after {args.evaluator_timeout:g}s "
                "(--evaluator-timeout)"
            )
        time.sleep(EVALUATOR_POLL_S)
    with open(ready) as f:
        metadata = json.load(f)
    booster = xgb.Booster(model_file=os.path.join(model_dir, MODEL_FILE))
    task = metadata["task"]
    frame = data.read_table(val_uri, os.environ.get(data.FORMAT_ENV) or None)
    x_val, y_val = data.xy(frame, metadata["feature_names"], args.target_column, "validation", task)
    predicted = booster.predict(xgb.DMatrix(x_val))
    if task == model.BINARY:
        predicted = np.column_stack([1 - predicted, predicted])
    scores = model.all_scores(task, y_val, predicted, metadata.get("classes"))
    log.info("%s: validation metrics of the primary's model: %s", where.name, json.dumps(scores))


def contract_environment() -> dict[str, str]:
    """The variables Vertex sets for a replica (cluster, ranks, AIP_* and trial ids)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name in CONTRACT_VARIABLES or name.startswith(("AIP_", "CLOUD_ML_"))
    }


def check_failure_flags(args: argparse.Namespace, where: clusters.Cluster) -> None:
    """`--fail-rank` and `--fail-at-round` go together and must name a rank and a round."""
    if (args.fail_rank is None) != (args.fail_at_round is None):
        raise TrainerError("--fail-rank and --fail-at-round must be given together")
    if args.fail_rank is None:
        return
    if not 0 <= args.fail_rank < where.world_size:
        raise TrainerError(
            f"--fail-rank must be a rank in 0..{where.world_size - 1} (world size "
            f"{where.world_size}), got {args.fail_rank}"
        )
    if not 1 <= args.fail_at_round <= args.num_boost_round:
        raise TrainerError(
            f"--fail-at-round must be in 1..{args.num_boost_round} (--num-boost-round), "
            f"got {args.fail_at_round}"
        )


def crash_callbacks(args: argparse.Namespace, rank: int) -> list:
    """An XGBoost callback that SIGKILLs this process at `--fail-at-round` on `--fail-rank`."""
    if args.fail_rank != rank:
        return []
    import xgboost as xgb

    class Crash(xgb.callback.TrainingCallback):
        def before_iteration(self, model, epoch, evals_log) -> bool:
            if epoch + 1 == args.fail_at_round:
                log.error("rank %d: simulated crash at round %d: SIGKILL to myself", rank, epoch)
                for handler in logging.getLogger().handlers:
                    handler.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return False

    return [Crash()]


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
    except Exception as e:  # XGBoostError: the group broke (a peer died, a timeout)
        if type(e).__name__ != "XGBoostError":
            raise
        print(f"trainer: error: the replica group broke: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
