"""How fast vtp's commands that call no Vertex API start and finish, against `import kfp`.

`vtp compile` (every pipeline and component), `vtp list` and `vtp check` import neither the
Vertex AI SDK (`google.cloud.aiplatform`, 2-4 s) nor GCPC's modules that import it. Each is a
fresh process, as a user runs it, with vtp's bytecode compiled as an install has it; the
commands run interleaved, round after round, so load on the machine hits them alike; the
figure is the median of the rounds, and the ratio is against `python -c "import kfp"` measured
in the same rounds (no kfp pipeline tool can start faster).

    python benchmarks/bench_commands.py [--rounds 9] [--markdown]

`--importtime COMMAND` prints the imports of one command that take longest (`-X importtime`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VTP = [sys.executable, "-m", "vtp"]


def commands(out: Path) -> dict[str, list[str]]:
    """Label -> argv, the baseline first."""
    return {
        'python -c "import kfp"': [sys.executable, "-c", "import kfp"],
        "vtp compile --out DIR": [*VTP, "compile", "--out", str(out)],
        "vtp list": [*VTP, "list"],
        "vtp check --template": [*VTP, "check", "--template"],
    }


def once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def compile_bytecode() -> None:
    """vtp's modules as an installed package has them: with their bytecode (pip compiles it at
    install; an editable install writes it on first use, unless PYTHONDONTWRITEBYTECODE)."""
    folders = [str(REPO / d) for d in ("vtp", "components", "pipelines")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], check=True)


def measure(rounds: int) -> dict[str, list[float]]:
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="vtp-bench-") as scratch:
        argvs = commands(Path(scratch) / "compiled")
        for argv in argvs.values():  # warm the page cache and the bytecode caches
            once(argv)
        times: dict[str, list[float]] = {label: [] for label in argvs}
        for _ in range(rounds):
            for label, argv in argvs.items():
                times[label].append(once(argv))
    return times


def report(times: dict[str, list[float]], markdown: bool) -> str:
    baseline = statistics.median(next(iter(times.values())))
    rows = [
        (label, statistics.median(values), statistics.median(values) / baseline)
        for label, values in times.items()
    ]
    if markdown:
        lines = ["| command | median s | x `import kfp` |", "| --- | --- | --- |"]
        lines += [f"| `{label}` | {median:.2f} | {ratio:.2f} |" for label, median, ratio in rows]
        return "\n".join(lines)
    width = max(len(label) for label, _, _ in rows)
    return "\n".join(
        f"{label:<{width}}  {median:6.2f} s  {ratio:5.2f}x" for label, median, ratio in rows
    )


def importtime(label: str, top: int = 15) -> str:
    """The `top` imports of one command with the largest cumulative time."""
    with tempfile.TemporaryDirectory(prefix="vtp-bench-") as scratch:
        argv = commands(Path(scratch) / "compiled")[label]
        done = subprocess.run(
            [argv[0], "-X", "importtime", *argv[1:]], cwd=REPO, capture_output=True, text=True
        )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line.split(":", 1)[1].split("|")
            rows.append((int(cumulative), name.rstrip()))
    rows.sort(reverse=True)
    return "\n".join(f"{us / 1e6:6.3f} s  {name}" for us, name in rows[:top])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--importtime", metavar="COMMAND", help="e.g. 'vtp compile --out DIR'")
    args = parser.parse_args()
    if args.importtime:
        print(importtime(args.importtime))
        return
    print(report(measure(args.rounds), args.markdown))


if __name__ == "__main__":
    main()
