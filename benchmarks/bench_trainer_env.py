"""The cached environment of a Python package trainer: first build, warm build, cached reuse.

The package is the script of `docs/bring-your-own-trainer.md` (scikit-learn, pandas, pyarrow,
cloudml-hypertune), built with `vtp.packaging.build_trainer`. Measured, each in a new
environments root:

- `vtp, cold uv cache`: `ensure_env` with `UV_CACHE_DIR` a new empty directory: every wheel
  is downloaded (PyPI), as on a machine that never ran vtp;
- `vtp, warm uv cache`: the same with uv's cache filled by the run before: what a new package
  (or a new vtp home) costs on a machine that ran vtp before;
- `vtp, cached environment`: `ensure_env` again on the environment just built (the hash check
  and the module probe): what every later run costs;
- `pip, cold cache` / `pip, warm cache`: the alternative, `python -m venv` then `pip install`
  of the same sdist, with a new `PIP_CACHE_DIR` and then with the one just filled.

Prints a Markdown table (median of `--repeat` for the warm and cached rows; the cold rows
once, they download ~100 MB); raw figures in `benchmarks/.work/trainer_env/results.json`.

    python benchmarks/bench_trainer_env.py [--repeat 3] [--no-cold]
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
sys.path.insert(0, str(REPO / "tests"))

WORK = REPO / "benchmarks" / ".work" / "trainer_env"
DOC = REPO / "docs" / "bring-your-own-trainer.md"


def sdist() -> Path:
    from support.doc_commands import files

    from vtp.packaging import build_trainer

    source = WORK / "source"
    shutil.rmtree(source, ignore_errors=True)
    for path, body in files(DOC.read_text()).items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(body)
    return build_trainer(source / "my_trainer" / "task.py", WORK / "dist").sdist


def vtp_build(package: Path, envs: Path, uv_cache: Path | None) -> float:
    from vtp.local.trainer_envs import ensure_env

    previous = os.environ.get("UV_CACHE_DIR")
    if uv_cache is not None:
        os.environ["UV_CACHE_DIR"] = str(uv_cache)
    try:
        started = time.monotonic()
        ensure_env([package], envs, module="aiplatform_custom_trainer_script.task", log=print)
        return time.monotonic() - started
    finally:
        if uv_cache is not None:
            if previous is None:
                os.environ.pop("UV_CACHE_DIR", None)
            else:
                os.environ["UV_CACHE_DIR"] = previous


def pip_build(package: Path, root: Path, pip_cache: Path) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    env = {**os.environ, "PIP_CACHE_DIR": str(pip_cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", str(package)],
        check=True,
        env=env,
    )
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-cold", action="store_true", help="skip the downloading runs")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    package = sdist()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="vtp-bench-env-") as tmp:
        scratch = Path(tmp)
        uv_cache, pip_cache = scratch / "uv-cache", scratch / "pip-cache"
        if not args.no_cold:
            rows["vtp, cold uv cache"] = [vtp_build(package, scratch / "cold", uv_cache)]
            rows["pip, cold cache"] = [pip_build(package, scratch / "pip-cold", pip_cache)]
        for i in range(args.repeat):  # warm caches: this run's when cold ran, else the user's
            cache = None if args.no_cold else uv_cache
            envs = scratch / f"warm-{i}"
            rows.setdefault("vtp, warm uv cache", []).append(vtp_build(package, envs, cache))
            rows.setdefault("vtp, cached environment", []).append(vtp_build(package, envs, cache))
            if not args.no_cold:
                rows.setdefault("pip, warm cache", []).append(
                    pip_build(package, scratch / f"pip-warm-{i}", pip_cache)
                )
    print()
    print("| environment | seconds |")
    print("| --- | --- |")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.2f} |")
    (WORK / "results.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
