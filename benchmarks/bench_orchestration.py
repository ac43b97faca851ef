"""Local orchestration: overhead on a sequential pipeline, and overlap on independent branches.

1. `vtp run training --local` (the compiled training pipeline: 7 steps, each waiting for the one
   before) against the same work as plain sequential processes: split the data, train the
   reference trainer, evaluate, register. Target: within 1.1x. Measured twice per round: the
   first run in a new home, and a second run in the same home, whose steps import ahead what
   they imported in the first (standby steps, docs/architecture.md).
2. A pipeline of two independent training jobs (GCPC `CustomTrainingJobOp`, the reference
   trainer with two settings) against the same two trainers run one after the other. The
   orchestrator runs them at once; that they overlapped is read from the run record's task
   times, not inferred from the wall time.

Runs alternate (plain, pipeline, plain, ...) so that load from other processes hits both alike;
medians are reported.

    python benchmarks/bench_orchestration.py [--repeat 3] [--json]
"""

import argparse
import datetime as dt
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
TRAINERS = REPO / "trainers"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TRAINERS)}
#: The training pipeline's defaults; the two branches train longer, so that the work, not
#: vtp's start (about 3 s), is what is measured.
HYPERPARAMETERS = ["--max-iter=200", "--learning-rate=0.1", "--max-leaf-nodes=31"]
BRANCHES = [
    ["--max-iter=800", "--learning-rate=0.02", "--max-leaf-nodes=31"],
    ["--max-iter=800", "--learning-rate=0.05", "--max-leaf-nodes=16"],
]


def _python(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=ENV)


def _train(work: Path, args: list[str], name: str) -> None:
    env = {
        **ENV,
        "AIP_TRAINING_DATA_URI": str(work / "train"),
        "AIP_VALIDATION_DATA_URI": str(work / "validation"),
        "AIP_MODEL_DIR": str(work / name) + "/",
        "CLOUD_ML_HP_METRIC_FILE": str(work / f"{name}.metrics"),
    }
    subprocess.run(
        [sys.executable, "-m", "trainer.task", *args],
        check=True,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _split(work: Path) -> None:
    _python(
        "from vtp.components.data.splitting import split_dataset as s;"
        f"s({str(DATA)!r}, {str(work / 'train')!r}, {str(work / 'validation')!r},"
        f" {str(work / 'test')!r}, key_column='id')"
    )


def plain_training(work: Path) -> dict[str, float]:
    """The training pipeline's work as plain processes; seconds per step."""
    times = {}
    t = time.perf_counter()
    _split(work)
    times["split"] = time.perf_counter() - t
    t = time.perf_counter()
    _train(work, HYPERPARAMETERS, "model")
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


def _vtp_run(target: str, home: Path, *params: str) -> tuple[float, dict]:
    args = [a for p in params for a in ("--param", p)]
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "vtp", "run", target, "--local", "--home", str(home), *args],
        check=True,
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t
    newest = max((home / "runs").glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    return wall, json.loads(newest.read_text())


def _when(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def branches_pipeline(out: Path) -> Path:
    """Two independent GCPC custom jobs of the reference trainer, on a split made beforehand."""
    from google_cloud_pipeline_components.v1.custom_job import CustomTrainingJobOp
    from kfp import compiler, dsl

    def pool(args: list[str]) -> list[dict]:
        return [
            {
                "machine_spec": {"machine_type": "n1-standard-4"},
                "replica_count": 1,
                "container_spec": {
                    "image_uri": "vtp-trainer:0.1.0",
                    "command": ["python", "-m", "trainer.task"],
                    "args": args,
                    "env": [
                        {"name": "AIP_TRAINING_DATA_URI", "value": "gs://bench/train"},
                        {"name": "AIP_VALIDATION_DATA_URI", "value": "gs://bench/validation"},
                        {"name": "OMP_NUM_THREADS", "value": "1"},
                    ],
                },
            }
        ]

    @dsl.pipeline(name="branches")
    def branches(project: str = "local-project"):
        for i, args in enumerate(BRANCHES):
            CustomTrainingJobOp(
                project=project,
                location="us-central1",
                display_name=f"branch-{i}",
                worker_pool_specs=pool(args),
                base_output_directory=f"gs://bench/branch-{i}",
            ).set_display_name(f"train-{i}")

    path = out / "branches.yaml"
    compiler.Compiler().compile(branches, str(path))
    return path


def plain_branches(work: Path) -> float:
    t = time.perf_counter()
    for i, args in enumerate(BRANCHES):
        _train(work, args, f"branch-{i}")
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the raw times as JSON too")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vtp-bench-orch-"))
    raw: dict[str, list] = {"plain": [], "pipeline": [], "recorded": [], "steps": []}
    raw.update({"again": [], "again_recorded": []})
    raw.update({"plain_branches": [], "branches": [], "overlap_s": []})
    try:
        yaml_path = branches_pipeline(root)
        for n in range(args.repeat):
            work = root / f"plain-{n}"
            work.mkdir()
            steps = plain_training(work)
            raw["steps"].append(steps)
            raw["plain"].append(sum(steps.values()))
            wall, record = _vtp_run("training", root / f"home-{n}")
            raw["pipeline"].append(wall)
            raw["recorded"].append(record["seconds"])
            wall, record = _vtp_run("training", root / f"home-{n}")
            raw["again"].append(wall)
            raw["again_recorded"].append(record["seconds"])

            raw["plain_branches"].append(plain_branches(work))
            home = root / f"branches-{n}"
            _split(home / "gcs" / "bench")
            wall, record = _vtp_run(str(yaml_path), home)
            raw["branches"].append(wall)
            spans = [
                (_when(t["started"]), _when(t["ended"]))
                for name, t in record["tasks"].items()
                if t["kind"] == "step"
            ]
            (a0, a1), (b0, b1) = spans
            raw["overlap_s"].append(max(0.0, min(a1, b1) - max(a0, b0)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in raw.items() if k != "steps"}
    per_step = {k: statistics.median(s[k] for s in raw["steps"]) for k in raw["steps"][0]}
    print(f"| measure | median of {args.repeat} runs |")
    print("| --- | --- |")
    print(
        "| plain processes: split / train / evaluate / register | "
        + " / ".join(f"{v:.2f}" for v in per_step.values())
        + " s |"
    )
    print(f"| plain processes, total | {med['plain']:.2f} s |")
    print(
        f"| `vtp run training --local` (7 steps), first run in a home, wall | "
        f"{med['pipeline']:.2f} s ({med['pipeline'] / med['plain']:.2f}x plain; "
        f"run record: {med['recorded']:.2f} s) |"
    )
    print(
        f"| the same, second run in that home, wall | {med['again']:.2f} s "
        f"({med['again'] / med['plain']:.2f}x plain; run record: {med['again_recorded']:.2f} s) |"
    )
    print(f"| two trainers, plain, one after the other | {med['plain_branches']:.2f} s |")
    print(
        f"| two trainers as independent pipeline tasks, wall | {med['branches']:.2f} s "
        f"({med['branches'] / med['plain_branches']:.2f}x plain) |"
    )
    print(f"| the two training tasks' overlap (from the run record) | {med['overlap_s']:.2f} s |")
    if args.json:
        print(json.dumps(raw))


if __name__ == "__main__":
    main()
