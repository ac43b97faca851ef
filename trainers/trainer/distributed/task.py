"""Entry point of the distributed example trainer: `python -m trainer.distributed.task`.

Every replica of the custom job runs it; `CLUSTER_SPEC` tells each its role. The primary and
the workers form an all-reduce group: each trains on its shard of the training rows and the
gradients are summed every step, so every rank holds the same weights. At the end the primary
checks that every rank's weights are bit-identical (checksums), writes `model.joblib` +
`model_metadata.json` to `AIP_MODEL_DIR` and reports the validation metric with
cloudml-hypertune; workers write nothing. Evaluators (pool 3) wait for the model and log its
validation metrics. A parameter-server pool is refused. Flags override the environment
variables. Without any cluster variable it trains alone on all the rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trainer import TrainerError, data, model
from trainer.distributed import cluster as clusters
from trainer.distributed import logreg
from trainer.distributed.collective import (
    DEFAULT_RENDEZVOUS_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    Collective,
    CollectiveError,
)
from trainer.task import (
    LOGS_METRICS_FILE,
    METADATA_FILE,
    MODEL_FILE,
    add_data_flags,
    add_flag,
    fraction,
    holdout,
    integer,
    resolve,
    save_model,
    split_columns,
    write_json,
)

log = logging.getLogger("trainer.distributed")

EVALUATOR_POLL_S = 0.5
CONTRACT_VARIABLES = (
    "CLUSTER_SPEC",
    "TF_CONFIG",
    "MASTER_ADDR",
    "MASTER_PORT",
    "WORLD_SIZE",
    "RANK",
)


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
    """The command line; every flag also accepts underscores (`--learning_rate=0.5`)."""
    p = argparse.ArgumentParser(
        prog="python -m trainer.distributed.task",
        description="Data-parallel logistic regression under the Vertex AI training contract.",
    )
    io = add_data_flags(p, "where the primary writes model.joblib")
    add_flag(io, "metric", default="auc", choices=list(model.METRICS), help="reported metric (auc)")
    add_flag(io, "validation-fraction", type=fraction, default=0.2, help="held-out share (0.2)")
    add_flag(
        io, "report-every", type=integer, default=50, help="report the metric every N steps (50)"
    )
    add_flag(io, "log-every", type=integer, default=50, help="log the loss every N steps (50)")

    hp = p.add_argument_group("hyperparameters (logistic regression, gradient descent)")
    defaults = logreg.HyperParameters()
    add_flag(hp, "learning-rate", type=float, default=defaults.learning_rate)
    add_flag(
        hp, "steps", type=integer, default=defaults.steps, help="gradient steps (all rows each)"
    )
    add_flag(hp, "l2", type=float, default=defaults.l2, help="L2 penalty weight")
    add_flag(hp, "seed", type=integer, default=defaults.seed, help="seed of the initial weights")

    group = p.add_argument_group("the replica group")
    add_flag(
        group,
        "collective-timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds a collective waits for the other ranks ({DEFAULT_TIMEOUT_S:g})",
    )
    add_flag(
        group,
        "rendezvous-timeout",
        type=seconds,
        default=DEFAULT_RENDEZVOUS_TIMEOUT_S,
        help=f"seconds to wait for every replica to join ({DEFAULT_RENDEZVOUS_TIMEOUT_S:g})",
    )
    add_flag(
        group,
        "abort-grace",
        type=seconds,
        default=1.0,
        help="seconds a replica that lost a peer waits before exiting, so the job reports the "
        "replica that failed first (1)",
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
    add_flag(group, "fail-at-step", type=integer, help="... at the start of this step")
    return p


def run(args: argparse.Namespace) -> dict | None:
    """Runs this replica's role. Returns the model metadata on the primary, else None."""
    if args.log_environment:
        log.info("environment: %s", json.dumps(contract_environment(), sort_keys=True))
    where = clusters.from_env()
    log.info(
        "replica %s: role %s, rank %s of world size %d, rendezvous %s:%d",
        where.name,
        where.role,
        "-" if where.rank is None else where.rank,
        where.world_size,
        where.primary_host,
        where.primary_port,
    )
    if where.role == clusters.PARAMETER_SERVER:
        raise TrainerError(
            f"{where.name} is a parameter server, but this trainer synchronises by all-reduce "
            "and has no use for one: remove worker_pool_specs[2], or put the Reduction Server "
            "image there (evaluators after an unused {} pool 2 land here when GCPC's launcher "
            "drops the empty pool)"
        )
    if where.role == clusters.EVALUATOR:
        evaluate_when_ready(args, where)
        return None
    hp = logreg.HyperParameters(
        learning_rate=args.learning_rate, steps=args.steps, l2=args.l2, seed=args.seed
    )
    check_failure_flags(args, where, hp)

    train_uri = resolve(args.training_data, "AIP_TRAINING_DATA_URI", "--training-data")
    val_uri = resolve(
        args.validation_data, "AIP_VALIDATION_DATA_URI", "--validation-data", required=False
    )
    model_uri = resolve(args.model_dir, "AIP_MODEL_DIR", "--model-dir", where.is_primary)
    excluded = split_columns(args.exclude_columns)
    table = data.read_table(train_uri)
    features = data.feature_columns(table, args.target_column, excluded)
    x, y = data.xy(table, features, args.target_column, "training")
    x_val = y_val = None
    if val_uri:
        if where.is_primary:
            validation = data.read_table(val_uri)
            x_val, y_val = data.xy(validation, features, args.target_column, "validation")
    else:  # the same deterministic holdout on every rank, before sharding
        x, x_val, y, y_val = holdout(x, y, args.validation_fraction)
    x_shard, y_shard = x[where.rank :: where.world_size], y[where.rank :: where.world_size]
    log.info(
        "rank %d: shard of %d of %d training rows, %d features",
        where.rank,
        len(x_shard),
        len(x),
        len(features),
    )

    started = time.monotonic()
    comm = Collective.connect(
        where.rank,
        where.world_size,
        where.primary_host,
        where.primary_port,
        bind_host=where.bind_host,
        timeout_s=args.collective_timeout,
        rendezvous_timeout_s=args.rendezvous_timeout,
        log=log.info,
    )
    with comm:
        trained = train_group(args, comm, hp, x_shard, y_shard, (x_val, y_val))
    log.info("rank %d: trained in %.2fs", where.rank, time.monotonic() - started)
    if not where.is_primary:
        return None
    return save(args, where, hp, trained, features, model_uri, val_uri, len(x))


@dataclass
class Trained:
    """What the group trained; `checksums` and `rows_per_replica` are set on the primary."""

    w: np.ndarray
    b: float
    standardiser: logreg.Standardiser
    classes: np.ndarray
    validation: tuple
    curve: list = field(default_factory=list)
    full_steps: int = 0
    checksums: dict[str, str] = field(default_factory=dict)
    rows_per_replica: list[int] = field(default_factory=list)

    def estimator(self, hp: logreg.HyperParameters):
        return logreg.to_estimator(self.w, self.b, self.standardiser, self.classes, hp)


def train_group(args, comm: Collective, hp, x_shard, y_shard, validation) -> Trained:
    """Standardise, train, then check that every rank holds the same weights."""
    standardiser = logreg.global_standardiser(comm, x_shard)
    classes = logreg.global_classes(comm, y_shard)
    primary = comm.rank == 0
    trained = Trained(np.empty(0), 0.0, standardiser, classes, validation)

    def after_step(step: logreg.Step, w: np.ndarray, b: float) -> None:
        trained.full_steps += step.ranks == comm.world_size
        if not primary:
            return
        if step.step == 1 or step.step % max(args.log_every, 1) == 0:
            log.info(
                "step %d/%d: loss %.6f, gradients all-reduced from %d ranks (%d rows)",
                step.step,
                hp.steps,
                step.loss,
                step.ranks,
                step.rows,
            )
        if args.report_every > 0 and step.step % args.report_every == 0 and step.step < hp.steps:
            trained.w, trained.b = w, b
            trained.curve.append([step.step, validation_score(args, trained, hp)])

    w, b = logreg.train(
        comm,
        standardiser.apply(x_shard),
        (y_shard == classes[1]).astype(np.float64),
        hp,
        before_step=crash_hook(args, comm.rank),
        after_step=after_step,
    )
    trained.w, trained.b = w, b
    checksum = logreg.weights_checksum(w, b)
    log.info("rank %d: final weights sha256 %s", comm.rank, checksum)
    digests = comm.gather(np.frombuffer(bytes.fromhex(checksum), dtype=np.uint8))
    rows = comm.gather(np.array([len(x_shard)]))
    if not primary:
        return trained
    names = [clusters.replica_name(r) for r in range(comm.world_size)]
    trained.checksums = {name: bytes(d).hex() for name, d in zip(names, digests, strict=True)}
    trained.rows_per_replica = [int(r[0]) for r in rows]
    if len(set(trained.checksums.values())) != 1:
        raise TrainerError(f"replicas ended with different weights: {trained.checksums}")
    log.info(
        "all-reduce: %d of %d steps combined gradients from all %d ranks (%s rows); "
        "every rank holds weights sha256 %s",
        trained.full_steps,
        hp.steps,
        comm.world_size,
        " + ".join(map(str, trained.rows_per_replica)),
        checksum,
    )
    return trained


def validation_score(args, trained: Trained, hp: logreg.HyperParameters) -> float:
    x_val, y_val = trained.validation
    estimator = trained.estimator(hp)
    return model.score(args.metric, y_val, estimator.predict_proba(x_val), estimator.classes_)


def save(args, where, hp, trained: Trained, features, model_uri, val_uri, rows) -> dict:
    """The primary's part: validation metrics, the model files, the hypertune report."""
    import hypertune

    estimator = trained.estimator(hp)
    x_val, y_val = trained.validation
    model.check_labels(y_val, estimator.classes_, "validation")
    proba = estimator.predict_proba(x_val)
    final = model.score(args.metric, y_val, proba, estimator.classes_)
    scores = model.all_scores(y_val, proba, estimator.classes_)
    log.info("validation metrics: %s", json.dumps(scores, sort_keys=True))

    metadata = save_model(  # metadata written last, atomically: evaluators wait for it
        model_uri,
        estimator,
        features=features,
        target_column=args.target_column,
        exclude_columns=split_columns(args.exclude_columns),
        hyperparameters=hp.as_dict(),
        metric=args.metric,
        validation_metrics=scores,
        details={
            "training_rows": rows,
            "validation": {"source": val_uri or "holdout", "rows": len(y_val)},
            "trial_id": where.trial,
            "distributed": {
                "world_size": where.world_size,
                "rows_per_replica": trained.rows_per_replica,
                "steps": hp.steps,
                "steps_all_reduced_from_every_rank": trained.full_steps,
                "weights_sha256": trained.checksums,
            },
        },
    )

    tuner = hypertune.HyperTune()
    for step, value in trained.curve:
        tuner.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag=args.metric, metric_value=value, global_step=step
        )
    tuner.report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag=args.metric, metric_value=final, global_step=hp.steps
    )
    log.info("reported %s=%.6f at step %d to %s", args.metric, final, hp.steps, tuner.metric_path)
    logs_uri = os.environ.get("AIP_TENSORBOARD_LOG_DIR")
    if logs_uri:
        logs_dir = data.local_path(logs_uri)
        os.makedirs(logs_dir, exist_ok=True)
        curve = [*trained.curve, [hp.steps, final]]
        payload = {"metric": args.metric, "curve": curve, "final": scores}
        write_json(os.path.join(logs_dir, LOGS_METRICS_FILE), payload)
        log.info("wrote the %s curve to %s", args.metric, logs_uri)
    return metadata


def evaluate_when_ready(args: argparse.Namespace, where: clusters.Cluster) -> None:
    """An evaluator: wait for the primary's model, then log its validation metrics."""
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
    import joblib

    with open(ready) as f:
        metadata = json.load(f)
    estimator = joblib.load(os.path.join(model_dir, MODEL_FILE))
    x_val, y_val = data.xy(
        data.read_table(val_uri), metadata["feature_names"], args.target_column, "validation"
    )
    model.check_labels(y_val, estimator.classes_, "validation")
    scores = model.all_scores(y_val, estimator.predict_proba(x_val), estimator.classes_)
    log.info("%s: validation metrics of the primary's model: %s", where.name, json.dumps(scores))


def contract_environment() -> dict[str, str]:
    """The variables Vertex sets for a replica (cluster, ranks, AIP_* and trial ids)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name in CONTRACT_VARIABLES or name.startswith(("AIP_", "CLOUD_ML_"))
    }


def check_failure_flags(
    args: argparse.Namespace, where: clusters.Cluster, hp: logreg.HyperParameters
) -> None:
    """`--fail-rank` and `--fail-at-step` go together and must name a rank and a step."""
    if (args.fail_rank is None) != (args.fail_at_step is None):
        raise TrainerError("--fail-rank and --fail-at-step must be given together")
    if args.fail_rank is None:
        return
    if not 0 <= args.fail_rank < where.world_size:
        raise TrainerError(
            f"--fail-rank must be a rank in 0..{where.world_size - 1} (world size "
            f"{where.world_size}), got {args.fail_rank}"
        )
    if not 1 <= args.fail_at_step <= hp.steps:
        raise TrainerError(
            f"--fail-at-step must be in 1..{hp.steps} (--steps), got {args.fail_at_step}"
        )


def crash_hook(args: argparse.Namespace, rank: int):
    """A `before_step` that SIGKILLs this process at `--fail-at-step` on `--fail-rank`."""
    if args.fail_rank != rank:
        return None

    def crash(step: int) -> None:
        if step == args.fail_at_step:
            log.error("rank %d: simulated crash at step %d: SIGKILL to myself", rank, step)
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    return crash


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
    except CollectiveError as e:
        print(f"trainer: error: the replica group broke: {e}", file=sys.stderr)
        time.sleep(args.abort_grace)  # let the job see the replica that failed first
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
