"""The distributed example trainer (XGBoost's collective) as a local job, against one process.

Data: a synthetic binary classification table (numpy, fixed seed; `--rows` x 28 numeric
features, 10% held out for validation) written as Parquet. Each configuration trains the same
`--rounds` boosting rounds (`tree_method=hist`, `max_depth=6`, one thread per process):

- `single process` : `python -m trainer.distributed.task` with no cluster variables, all rows;
- `in-process xgboost.train, 1 / 2 threads`: the training call alone (no process start, no
  data reading), with XGBoost's own threads: the best use of this machine's two cores
  without a cluster;
- `local job, N replicas`: `trainer.distributed.task` as a custom job of a primary and N-1
  workers through `vtp.local.executor.run_local_job`, every replica its own process on
  loopback, joined by XGBoost's tracker.

For each: wall time (median of `--repeat`: process start to exit, or the call alone in
process), the time the primary reports for training (tracker rendezvous included), the
validation AUC, and whether the model equals the single-process one (same sha256 of the model
JSON) or else how far its validation predictions are from it. Prints a Markdown table; the
raw figures go to `benchmarks/.work/distributed/results.json`.

    python benchmarks/bench_distributed.py [--rows 200000] [--rounds 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "trainers"))

WORK = REPO / "benchmarks" / ".work" / "distributed"
CLUSTER_VARS = ("CLUSTER_SPEC", "TF_CONFIG", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")
FEATURES = 28


def make_data(rows: int, root: Path) -> dict[str, Path]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(42)
    x = rng.normal(size=(rows, FEATURES))
    logit = x[:, :6] @ np.array([1.5, -2.0, 1.0, 0.5, -1.0, 0.8]) + np.sin(3 * x[:, 6])
    y = (logit + rng.logistic(size=rows) > 0).astype(int)
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(FEATURES)])
    frame["target"] = y
    cut = int(rows * 0.9)
    root.mkdir(parents=True, exist_ok=True)
    paths = {"train": root / "train.parquet", "validation": root / "validation.parquet"}
    frame.iloc[:cut].to_parquet(paths["train"], index=False)
    frame.iloc[cut:].to_parquet(paths["validation"], index=False)
    return paths


def trainer_args(rounds: int) -> list[str]:
    return [
        "--exclude-columns=",
        f"--num-boost-round={rounds}",
        "--max-depth=6",
        "--learning-rate=0.3",
        "--report-every=0",
    ]


def single_process(data, rounds: int, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLUSTER_VARS}
    env |= {
        "AIP_TRAINING_DATA_URI": str(data["train"]),
        "AIP_VALIDATION_DATA_URI": str(data["validation"]),
        "AIP_MODEL_DIR": f"{out}/",
        "CLOUD_ML_HP_METRIC_FILE": str(out.parent / "single.metrics"),
        "PYTHONPATH": str(REPO / "trainers"),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "trainer.distributed.task", *trainer_args(rounds)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.monotonic() - started
    return {"wall_s": wall, "train_s": trained_in(done.stdout), "model_dir": out, **auc(out)}


def threaded(data, rounds: int, threads: int) -> dict:
    import pandas as pd
    import xgboost as xgb

    frame = pd.read_parquet(data["train"])
    dtrain = xgb.DMatrix(frame.drop(columns=["target"]).to_numpy(), label=frame["target"])
    params = {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "max_depth": 6,
        "eta": 0.3,
        "nthread": threads,
    }
    started = time.monotonic()
    booster = xgb.train(params, dtrain, rounds)
    seconds = time.monotonic() - started
    return {"wall_s": seconds, "train_s": seconds, "auc": auc_of(booster, data)}


def auc_of(booster, data) -> float:
    import pandas as pd
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    validation = pd.read_parquet(data["validation"])
    x = xgb.DMatrix(validation.drop(columns=["target"]).to_numpy())
    return float(roc_auc_score(validation["target"], booster.predict(x)))


def local_job(data, rounds: int, replicas: int, out: Path) -> dict:
    from vtp.local.executor import LocalJob, run_local_job

    def pool(count: int) -> dict:
        return {
            "machine_spec": {"machine_type": "n1-standard-4"},
            "replica_count": count,
            "container_spec": {
                "image_uri": "vtp-trainer-distributed:0.1.0",
                "args": trainer_args(rounds),
                "env": [
                    {"name": "AIP_TRAINING_DATA_URI", "value": str(data["train"])},
                    {"name": "AIP_VALIDATION_DATA_URI", "value": str(data["validation"])},
                ],
            },
        }

    pools = [pool(1)] + ([pool(replicas - 1)] if replicas > 1 else [])
    shutil.rmtree(out, ignore_errors=True)
    job = LocalJob("bench", pools, base_output_directory=str(out))
    started = time.monotonic()
    result = run_local_job(
        job,
        work_dir=out / "work",
        gcs_root=out / "gcs",
        log=lambda _: None,
        extra_env={"CLOUD_ML_HP_METRIC_FILE": str(out / "hypertune.metrics")},
    )
    wall = time.monotonic() - started
    primary = (out / "work" / "logs" / "workerpool0-0.log").read_text()
    model_dir = Path(result.model_dir)
    return {
        "wall_s": wall,
        "train_s": trained_in(primary),
        "model_dir": model_dir,
        **auc(model_dir),
    }


def auc(model_dir: Path) -> dict:
    meta = json.loads((model_dir / "model_metadata.json").read_text())
    return {"auc": meta["validation_metrics"]["auc"]}


def trained_in(log: str) -> float | None:
    found = re.findall(r"trained in ([\d.]+)s", log)
    return float(found[-1]) if found else None


def compare(model_dir: Path, reference: Path, data) -> str:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    def sha(path: Path) -> str:
        meta = json.loads((path / "model_metadata.json").read_text())
        return next(iter(meta["distributed"]["model_sha256"].values()))

    if sha(model_dir) == sha(reference):
        return "identical (same sha256)"
    validation = pd.read_parquet(data["validation"]).drop(columns=["target"]).to_numpy()
    x = xgb.DMatrix(validation)
    a, b = (load(path).predict(x) for path in (model_dir, reference))
    gap = np.abs(a - b)
    return f"differs: prediction gap mean {gap.mean():.1e}, max {gap.max():.2f}"


def load(model_dir: Path):
    import warnings

    import xgboost as xgb

    with warnings.catch_warnings():  # "Unknown file format: `bst`": UBJSON, as written
        warnings.simplefilter("ignore", UserWarning)
        return xgb.Booster(model_file=str(model_dir / "model.bst"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--replicas", default="1,2,3")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    WORK.mkdir(parents=True, exist_ok=True)
    data = make_data(args.rows, WORK / "data")
    replicas = [int(r) for r in args.replicas.split(",")]
    rows: dict[str, list[dict]] = {}
    reference = WORK / "single"
    for _ in range(args.repeat):  # alternate the configurations within each repetition
        rows.setdefault("single process", []).append(single_process(data, args.rounds, reference))
        for threads in (1, 2):
            rows.setdefault(f"in-process xgboost.train, {threads} thread(s)", []).append(
                threaded(data, args.rounds, threads)
            )
        for n in replicas:
            rows.setdefault(f"local job, {n} replica(s)", []).append(
                local_job(data, args.rounds, n, WORK / f"job-{n}")
            )
    best = min(
        statistics.median(r["train_s"] for r in runs)
        for name, runs in rows.items()
        if not name.startswith("local job")
    )
    print(f"{args.rows} rows x {FEATURES} features, {args.rounds} rounds, median of {args.repeat}")
    print()
    print("| configuration | wall s | training s | x best training | validation AUC | model |")
    print("| --- | --- | --- | --- | --- | --- |")
    results = {}
    for name, runs in rows.items():
        wall = statistics.median(r["wall_s"] for r in runs)
        trains = [r["train_s"] for r in runs if r["train_s"] is not None]
        train = f"{statistics.median(trains):.2f}" if trains else "-"
        model_dir = runs[-1].get("model_dir")
        same = (
            compare(model_dir, reference, data)
            if model_dir and name != "single process"
            else ("reference" if name == "single process" else "-")
        )
        ratio = f"{statistics.median(trains) / best:.2f}" if trains else "-"
        area = statistics.median(r["auc"] for r in runs)
        print(f"| {name} | {wall:.2f} | {train} | {ratio} | {area:.4f} | {same} |")
        results[name] = {
            "wall_s": [r["wall_s"] for r in runs],
            "train_s": trains,
            "auc": [r["auc"] for r in runs],
            "model": same,
        }
    (WORK / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
