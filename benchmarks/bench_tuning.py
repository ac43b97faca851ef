"""Local tuning: parallel speed-up and the tuner's overhead per trial.

Runs the same 8 trials of the reference trainer (a grid over its `--seed`, so every trial does
the same work; `OMP_NUM_THREADS=1` keeps each trial on one core) three ways:

- plain: the 8 trainer processes back to back, with the environment a trial gets;
- the local tuner with `parallel_trial_count` 1;
- the local tuner with `parallel_trial_count` 2.

The overhead is measured a second way, more precisely, with a minimal trial (a Python process
that only reports one metric with cloudml-hypertune), where noise in the trainer's run time
does not hide it.

`--regret` measures the samplers instead (benchmarks/_regret.py): median regret over 10 seeds
at 10 and 20 trials on Branin, Hartmann-3 and a conditional space, for vtp's
ALGORITHM_UNSPECIFIED sampler, Optuna's TPE with its defaults and random search, in one run.

    python benchmarks/bench_tuning.py [--repeat 3] [--max-iter 300]
    python benchmarks/bench_tuning.py --regret [--seeds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import optuna  # noqa: E402
import pandas as pd  # noqa: E402

from vtp.components.tuning.study import IntegerParameter, MetricSpec, StudySpec  # noqa: E402
from vtp.local.tuner import run_local_study  # noqa: E402

TRIALS = 8
DATA = REPO / "data" / "breast_cancer.csv"
STUDY = StudySpec(
    [MetricSpec("auc", "MAXIMIZE")], [IntegerParameter("seed", 0, TRIALS - 1)], "GRID_SEARCH"
)


def prepare(work: Path) -> dict[str, str]:
    """Train / validation splits under the local Cloud Storage root; the data env of a trial."""
    data = pd.read_csv(DATA)
    bucket = work / "gcs" / "bench" / "data"
    bucket.mkdir(parents=True)
    data.drop(data.index[::4]).to_parquet(bucket / "train.parquet")
    data.iloc[::4].to_csv(bucket / "validation.csv", index=False)
    return {
        "AIP_TRAINING_DATA_URI": str(bucket / "train.parquet"),
        "AIP_VALIDATION_DATA_URI": str(bucket / "validation.csv"),
        "OMP_NUM_THREADS": "1",
    }


MINIMAL = (
    "import sys, hypertune; "
    "hypertune.HyperTune().report_hyperparameter_tuning_metric('auc', 0.5, 1)"
)


def trainer_command(max_iter: int | None) -> list[str]:
    """The reference trainer, or the minimal trial when `max_iter` is None."""
    if max_iter is None:
        return ["python", "-c", MINIMAL]
    args = [f"--max-iter={max_iter}", "--learning-rate=0.05", "--max-leaf-nodes=31"]
    return ["python", "-m", "trainer.task", *args]


def plain(work: Path, env: dict[str, str], max_iter: int | None) -> float:
    """The 8 trials' processes back to back, each with a trial's environment."""
    started = time.perf_counter()
    for trial in range(1, TRIALS + 1):
        out = work / f"plain-{max_iter}" / str(trial)
        trial_env = {
            **os.environ,
            **env,
            "AIP_MODEL_DIR": f"{out}/model/",
            "AIP_CHECKPOINT_DIR": f"{out}/checkpoints/",
            "AIP_TENSORBOARD_LOG_DIR": f"{out}/logs/",
            "CLOUD_ML_TRIAL_ID": str(trial),
            "CLOUD_ML_HP_METRIC_FILE": str(out / "output.metrics"),
        }
        subprocess.run(
            [sys.executable, *trainer_command(max_iter)[1:], f"--seed={trial - 1}.0"],
            check=True,
            cwd=REPO,
            env=trial_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return time.perf_counter() - started


def tuned(work: Path, env: dict[str, str], max_iter: int | None, parallel: int) -> float:
    """The 8 trials through `run_local_study`."""
    pool = {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "container_spec": {
            "image_uri": "trainer",
            "command": trainer_command(max_iter),
            "env": [{"name": k, "value": v} for k, v in env.items()],
        },
    }
    started = time.perf_counter()
    trials = run_local_study(
        study=STUDY,
        worker_pool_specs=[pool],
        max_trial_count=TRIALS,
        parallel_trial_count=parallel,
        base_output_directory="gs://bench/tuning",
        job_dir=work / f"tuning-{max_iter}-p{parallel}",
        gcs_root=work / "gcs",
        log=lambda line: None,
    )
    elapsed = time.perf_counter() - started
    if len(trials) != TRIALS or any(t["state"] != 4 for t in trials):
        raise SystemExit(f"benchmark trials did not all succeed: {json.dumps(trials)[:500]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--regret", action="store_true", help="measure the samplers' regret")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per sampler (--regret)")
    args = parser.parse_args()
    if args.regret:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from _regret import regret_table, regrets

        checkpoints = (10, 20)
        results = regrets(max(checkpoints), checkpoints, args.seeds)
        print(regret_table(results, checkpoints, args.seeds))
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.chdir(REPO)  # trial processes run `python -m trainer.task` from here
    runs: dict[str, list[float]] = {"plain": [], "p1": [], "p2": [], "min_plain": [], "min_p1": []}
    for i in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="vtp-bench-tuning-"))
        try:
            env = prepare(work)
            names = ["plain", "p1", "p2"]
            for name in names[i % 3 :] + names[: i % 3]:  # no fixed order between runs
                if name == "plain":
                    runs[name].append(plain(work, env, args.max_iter))
                else:
                    runs[name].append(tuned(work, env, args.max_iter, int(name[1])))
            runs["min_plain"].append(plain(work, env, None))
            runs["min_p1"].append(tuned(work, env, None, 1))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    m = {k: statistics.median(v) for k, v in runs.items()}
    overhead = (m["p1"] - m["plain"]) / TRIALS
    print(
        f"| {TRIALS} trials, reference trainer (--max-iter={args.max_iter}) | median of "
        f"{args.repeat} runs |"
    )
    print("| --- | --- |")
    print(
        f"| plain trainer processes, back to back | {m['plain']:.2f} s "
        f"({m['plain'] / TRIALS:.2f} s per trial) |"
    )
    print(f"| local tuner, parallel_trial_count 1 | {m['p1']:.2f} s |")
    print(f"| local tuner, parallel_trial_count 2 | {m['p2']:.2f} s |")
    print(f"| speed-up, 2 vs 1 parallel trials | {m['p1'] / m['p2']:.2f}x |")
    print(
        f"| tuner overhead per trial (parallel 1 vs plain) | {overhead:.3f} s "
        f"({100 * overhead / (m['plain'] / TRIALS):.1f} %) |"
    )
    minimal = (m["min_p1"] - m["min_plain"]) / TRIALS
    print(
        f"| minimal trial: plain process / through the tuner | {m['min_plain'] / TRIALS:.3f} s / "
        f"{m['min_p1'] / TRIALS:.3f} s per trial |"
    )
    print(f"| tuner overhead per trial (minimal trial) | {minimal:.3f} s |")
    print(json.dumps({"runs": runs, "cpus": os.cpu_count(), "loadavg": os.getloadavg()}))


if __name__ == "__main__":
    main()
