"""Orchestration overhead of a local pipeline run.

Compares the wall time of `vtp run training --local` with the same work done as plain
processes (split the data, train, evaluate, register), each started as its own Python
process like kfp.local does, but with no KFP executor, no twin and no pipeline bookkeeping.

    python benchmarks/bench_orchestration.py [--repeat 3]
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
DATA = REPO / "data" / "breast_cancer.csv"


def _python(code: str, env: dict | None = None) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=env)


def plain_steps(work: Path) -> dict[str, float]:
    """The pipeline's work as plain processes; seconds per step."""
    times = {}
    t = time.perf_counter()
    _python(
        "from vtp.components.data.splitting import split_dataset as s;"
        f"s({str(DATA)!r}, {str(work / 'train')!r}, {str(work / 'validation')!r},"
        f" {str(work / 'test')!r}, key_column='id')"
    )
    times["split"] = time.perf_counter() - t
    t = time.perf_counter()
    env = {
        **os.environ,
        "AIP_TRAINING_DATA_URI": str(work / "train"),
        "AIP_VALIDATION_DATA_URI": str(work / "validation"),
        "AIP_MODEL_DIR": str(work / "model") + "/",
        "CLOUD_ML_HP_METRIC_FILE": str(work / "hypertune.metrics"),
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer.task",
            "--max-iter=200",
            "--learning-rate=0.1",
            "--max-leaf-nodes=31",
        ],
        check=True,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    times["train"] = time.perf_counter() - t
    t = time.perf_counter()
    _python(
        "from vtp.components.evaluation.metrics import evaluate;"
        f"print(evaluate({str(work / 'model')!r}, {str(work / 'test')!r}).scalars)"
    )
    times["evaluate"] = time.perf_counter() - t
    t = time.perf_counter()
    _python(
        "from vtp.local.registry import LocalModelRegistry as R;"
        f"R({str(work / 'registry.db')!r}).upload(display_name='m',"
        f" artifact_uri={str(work / 'model')!r}, container_spec={{'imageUri': 'srv'}})"
    )
    times["register"] = time.perf_counter() - t
    return times


def pipeline_run(home: Path) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "vtp", "run", "training", "--local", "--home", str(home)],
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    plain, piped, steps = [], [], []
    for _ in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="vtp-bench-"))
        try:
            step_times = plain_steps(work)
            steps.append(step_times)
            plain.append(sum(step_times.values()))
            piped.append(pipeline_run(work / "home"))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    p, r = statistics.median(plain), statistics.median(piped)
    per_step = {k: statistics.median(s[k] for s in steps) for k in steps[0]}
    print(f"| measure | median of {args.repeat} runs |")
    print("| --- | --- |")
    for k, v in per_step.items():
        print(f"| plain step: {k} | {v:.2f} s |")
    print(f"| plain processes, total | {p:.2f} s |")
    print(f"| `vtp run training --local` (7 steps) | {r:.2f} s |")
    print(
        f"| orchestration overhead | {r - p:.2f} s ({(r - p) / 7:.2f} s per step, {r / p:.2f}x) |"
    )
    print(json.dumps({"plain": plain, "pipeline": piped, "steps": steps}))


if __name__ == "__main__":
    main()
