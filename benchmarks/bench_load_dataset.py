"""Benchmark `load_dataset`'s split against the engines a team would otherwise use.

Generates deterministic data once under `benchmarks/.work/` (a CSV of the requested size, and
the same rows as Parquet and as JSON Lines), then runs every contender in a fresh subprocess,
interleaved (each round runs every contender once, in turn), and records its work time, its
process time and its peak RSS (`os.wait4` rusage of that child). Every contender splits the
rows 0.8 / 0.1 / 0.1 by a hash of the row position (the generated `id` column is the row
position) and writes three Parquet outputs:

  vtp         split_dataset(..., data_format="parquet"): vtp's hash, Polars' streaming engine
  polars      scan -> filter on `pl.col("id").hash(seed) % 10` -> three sink_parquet in one
              `pl.collect_all` (Polars' streaming hash split, its own unstable hash)
  polars_pk   the same hash as a split column -> one sink_parquet partitioned by it
              (`pl.PartitionBy(key=...)`): the form vtp's split takes, with Polars' hash
  duckdb      COPY (SELECT *, hash(id) % 10 ...) TO dir (FORMAT parquet, PARTITION_BY split)
  pandas      read_* + sklearn train_test_split twice + DataFrame.to_parquet (in memory; run
              only up to --pandas-max)

CSV sources also run `vtp_csv` / `polars_csv` (the same, writing CSV splits) and `vtp_key`
(vtp split by a hash of the `user_id` column's text).

    python benchmarks/bench_load_dataset.py                       # 256M,1G,4G; ~1 h under load
    python benchmarks/bench_load_dataset.py --quick               # 16M, 1 round
    python benchmarks/bench_load_dataset.py --sizes 256M,1G --sources csv --repeat 3
    python benchmarks/bench_load_dataset.py --sizes 4G --skip jsonl:polars   # see --help
    python benchmarks/bench_load_dataset.py --from-log run.err               # table from a log

Every run is logged to stderr as one line (`<source> <size> <contender> run N: {json}`), so a
table can be rebuilt from the logs of several invocations with --from-log.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"
SOURCES = ("csv", "parquet", "jsonl")
BASE = ("vtp", "polars", "polars_pk", "duckdb", "pandas")
CSV_EXTRA = ("vtp_csv", "polars_csv", "vtp_key")
SEED = 42


def parse_size(text: str) -> int:
    """'128M' / '1G' / '5000000' -> bytes."""
    text = text.strip().upper().removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * scale)


def generate_csv(path: Path, target_bytes: int, seed: int = 0) -> int:
    """Write about `target_bytes` of CSV rows to `path`, chunk by chunk; returns rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    categories = pa.array([f"category_{i:02d}" for i in range(24)])
    countries = pa.array(["PT", "NO", "EC", "GH", "VN", "PE", "KE", "NZ", "CL", "IS"])
    words = pa.array(["alpha", "bravo", "delta", "echo", "kilo", "lima", "oscar", "tango"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    rows, chunk = 0, 200_000
    with pa.OSFile(str(tmp), "wb") as sink:
        writer = None
        while sink.tell() < target_bytes:
            rng = np.random.default_rng([seed, rows])
            ids = np.arange(rows, rows + chunk, dtype=np.int64)
            note = pc.binary_join_element_wise(
                pc.take(words, rng.integers(0, len(words), chunk)),
                pc.take(words, rng.integers(0, len(words), chunk)),
                pc.cast(pa.array(rng.integers(0, 1000, chunk)), pa.string()),
                "-",
            )
            table = pa.table(
                {
                    "id": ids,
                    "user_id": rng.integers(0, 2_000_000, chunk),
                    "amount": np.round(rng.gamma(2.0, 40.0, chunk), 2),
                    "score": rng.random(chunk),
                    "quantity": rng.integers(1, 50, chunk),
                    "category": pc.take(categories, rng.integers(0, len(categories), chunk)),
                    "country": pc.take(countries, rng.integers(0, len(countries), chunk)),
                    "note": note,
                    "label": rng.integers(0, 2, chunk),
                }
            )
            if writer is None:
                writer = pa_csv.CSVWriter(sink, table.schema)
            writer.write_table(table)
            rows += chunk
        writer.close()
    tmp.replace(path)
    return rows


def derive(csv: Path, fmt: str) -> Path:
    """The same rows as `csv` in Parquet or JSON Lines (written once, streaming)."""
    import polars as pl

    out = csv.with_suffix(".parquet" if fmt == "parquet" else ".jsonl")
    if not out.exists():
        tmp = out.with_name(out.name + ".partial")
        frame = pl.scan_csv(csv)
        if fmt == "parquet":
            frame.sink_parquet(tmp)
        else:
            frame.sink_ndjson(tmp)
        tmp.replace(out)
    return out


def prepare(csv: Path, size: int, fmt: str) -> Path:
    """The data file of `fmt`, made in a subprocess when missing.

    Not in this process: Linux reports a child's peak RSS as at least this process's own
    peak (the high-water mark survives fork and exec), so this process must stay small.
    """
    target = csv if fmt == "csv" else csv.with_suffix(".parquet" if fmt == "parquet" else ".jsonl")
    if not target.exists():
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--make", fmt, "--input", str(csv), "--size", str(size)],
            check=True,
            cwd=REPO,
        )
        print(f"made {target} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return target


def run_child(method: str, source: Path, out: Path) -> dict:
    """Run one contender in this process (the child side): rows, work seconds, CPU seconds.

    Imports happen before the clock starts; the parent's process time includes them.
    """
    import resource

    fmt = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}[source.suffix]
    if method.startswith("vtp"):
        from vtp.components.data.splitting import split_dataset
    elif method.startswith("polars"):
        import polars as pl
    elif method == "duckdb":
        import duckdb
    elif method == "pandas":
        import pandas as pd
        from sklearn.model_selection import train_test_split
    else:
        raise SystemExit(f"unknown method {method!r}")
    out.mkdir(parents=True, exist_ok=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    if method.startswith("vtp"):
        dirs = [str(out / s) for s in ("train", "validation", "test")]
        summary = split_dataset(
            str(source),
            *dirs,
            seed=SEED,
            key_column="user_id" if method == "vtp_key" else None,
            data_format="csv" if method == "vtp_csv" else "parquet",
        )
        rows = summary.total_rows
    elif method == "polars_pk":
        scan = {"csv": pl.scan_csv, "parquet": pl.scan_parquet, "jsonl": pl.scan_ndjson}[fmt]
        split = (
            pl.when(pl.col("id").hash(SEED) % 10 < 8)
            .then(pl.lit(0, pl.UInt8))
            .when(pl.col("id").hash(SEED) % 10 == 8)
            .then(pl.lit(1, pl.UInt8))
            .otherwise(pl.lit(2, pl.UInt8))
        )
        scan(source).with_columns(split.alias("split")).sink_parquet(
            pl.PartitionBy(out, key="split", include_key=False)
        )
        rows = None
    elif method.startswith("polars"):
        scan = {"csv": pl.scan_csv, "parquet": pl.scan_parquet, "jsonl": pl.scan_ndjson}[fmt]
        frame = scan(source)
        bucket = pl.col("id").hash(SEED) % 10
        parts = [frame.filter(bucket < 8), frame.filter(bucket == 8), frame.filter(bucket == 9)]
        sinks = [
            p.sink_csv(out / f"{i}.csv", lazy=True)
            if method == "polars_csv"
            else p.sink_parquet(out / f"{i}.parquet", lazy=True)
            for i, p in enumerate(parts)
        ]
        pl.collect_all([*sinks, frame.select(pl.len())])
        rows = None
    elif method == "duckdb":
        reader = {"csv": "read_csv_auto", "parquet": "read_parquet", "jsonl": "read_json_auto"}
        con = duckdb.connect()
        con.execute(f"SET threads TO {os.cpu_count()}")
        con.execute(
            f"COPY (SELECT *, CASE WHEN hash(id) % 10 < 8 THEN 'train' WHEN hash(id) % 10 = 8 "
            f"THEN 'validation' ELSE 'test' END AS split FROM {reader[fmt]}('{source}')) "
            f"TO '{out}' (FORMAT parquet, PARTITION_BY (split), OVERWRITE_OR_IGNORE)"
        )
        rows = None
    else:
        frame = {
            "csv": pd.read_csv,
            "parquet": pd.read_parquet,
            "jsonl": lambda p: pd.read_json(p, lines=True),
        }[fmt](source)
        train, rest = train_test_split(frame, test_size=0.2, random_state=SEED)
        validation, test = train_test_split(rest, test_size=0.5, random_state=SEED)
        for i, part in enumerate((train, validation, test)):
            part.to_parquet(out / f"{i}.parquet", index=False)
        rows = len(frame)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    return {"rows": rows, "seconds": seconds, "cpu": cpu}


def measure(method: str, source: Path, out: Path) -> dict | None:
    """Run `method` in a fresh subprocess: work time, process time, peak RSS."""
    cmd = [sys.executable, __file__, "--child", method, "--input", str(source), "--out", str(out)]
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=REPO)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:  # e.g. killed for memory: recorded, and the other contenders go on
        shutil.rmtree(out, ignore_errors=True)
        print(f"{method} on {source.name} failed with exit code {code}", file=sys.stderr)
        return None
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    out_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    shutil.rmtree(out, ignore_errors=True)
    return {**result, "wall": wall, "rss_mb": usage.ru_maxrss / 1024, "out_mb": out_bytes / 2**20}


def import_time(statement: str, runs: int = 5) -> float:
    """Median seconds of `python -c statement` minus `python -c pass` (fresh processes)."""

    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
        return time.perf_counter() - start

    base = statistics.median(once("pass") for _ in range(runs))
    return statistics.median(once(statement) for _ in range(runs)) - base


def table(results: dict, sizes: dict) -> list[str]:
    lines = [
        "| source | input | CSV size | contender | work s | process s | x polars (work / process)"
        " | CPU s | peak RSS MB | output MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (fmt, size), all_runs in results.items():
        runs = {m: rs for m, rs in all_runs.items() if rs}
        med = {
            m: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "wall", "cpu")}
            for m, rs in runs.items()
        }
        base = med.get("polars") or med.get("polars_pk")  # the Polars contender of the run
        for method, rs in runs.items():
            m = med[method]
            ref = med.get("polars_csv") if method.endswith("_csv") else base
            ratio = (
                f"{m['seconds'] / ref['seconds']:.2f} / {m['wall'] / ref['wall']:.2f}"
                if ref
                else "-"
            )
            rss = max(r["rss_mb"] for r in rs)
            out_mb = statistics.median(r["out_mb"] for r in rs)
            lines.append(
                f"| {fmt} | {sizes[(fmt, size)]:,.0f} MB | {size} | {method} | {m['seconds']:.2f} "
                f"| {m['wall']:.2f} | {ratio} | {m['cpu']:.2f} | {rss:,.0f} | {out_mb:,.0f} |"
            )
    return lines


def from_logs(paths: list[Path], work: Path) -> tuple[dict, dict]:
    """The runs logged on stderr by earlier invocations, grouped as `main` groups them."""
    results: dict = {}
    shown: dict = {}
    for path in paths:
        for line in path.read_text().splitlines():
            head, sep, payload = line.partition(": {")
            parts = head.split()
            if not sep or len(parts) != 5 or parts[3] != "run":
                continue
            fmt, size, method = parts[:3]
            results.setdefault((fmt, size), {}).setdefault(method, []).append(
                json.loads("{" + payload)
            )
            csv = work / f"data-{size.upper()}.csv"
            source = (
                csv
                if fmt == "csv"
                else csv.with_suffix(".parquet" if fmt == "parquet" else ".jsonl")
            )
            shown[(fmt, size)] = source.stat().st_size / 2**20 if source.exists() else float("nan")
    return results, shown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256M,1G,4G", help="CSV sizes (rows set the others)")
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--quick", action="store_true", help="16M only, 1 round")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds per size")
    parser.add_argument("--methods", default=",".join(BASE + CSV_EXTRA))
    parser.add_argument("--pandas-max", default="1G", help="largest CSV size pandas runs on")
    parser.add_argument("--work", type=Path, default=WORK, help="data directory")
    parser.add_argument("--json", type=Path, help="also write every run to this file")
    parser.add_argument(
        "--skip",
        default="",
        help="source:contender pairs not to run, e.g. jsonl:polars (Polars' JSON Lines reader "
        "with its defaults needs about 7x the input in memory)",
    )
    parser.add_argument("--from-log", type=Path, nargs="+", help="print the table of these logs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make:
        if not args.input.exists():
            generate_csv(args.input, args.size)
        if args.make != "csv":
            derive(args.input, args.make)
        return
    if args.child:
        print(json.dumps(run_child(args.child, args.input, args.out)))
        return
    if args.from_log:
        results, shown = from_logs(args.from_log, args.work)
        print("\n".join(table(results, shown)))
        return
    skip = {tuple(pair.split(":", 1)) for pair in args.skip.split(",") if ":" in pair}
    sizes = ["16M"] if args.quick else args.sizes.split(",")
    repeat = 1 if args.quick else args.repeat
    wanted = [m for m in args.methods.split(",") if m]
    results: dict = {}
    shown: dict = {}
    for size in sizes:
        csv = args.work / f"data-{size.upper()}.csv"
        for fmt in args.sources.split(","):
            source = prepare(csv, parse_size(size), fmt)
            methods = [m for m in wanted if m in BASE or (fmt == "csv" and m in CSV_EXTRA)]
            methods = [m for m in methods if (fmt, m) not in skip]
            if parse_size(size) > parse_size(args.pandas_max):
                methods = [m for m in methods if m != "pandas"]
            if "duckdb" in methods:
                try:
                    import duckdb  # noqa: F401
                except ImportError:
                    print(
                        "duckdb is not installed (pip install .[bench]): skipped", file=sys.stderr
                    )
                    methods.remove("duckdb")
            runs: dict[str, list[dict]] = {m: [] for m in methods}
            for i in range(repeat):
                for method in methods:
                    if method == "pandas" and i > 0:
                        continue  # minutes and GBs a run: once is enough to place it
                    result = measure(method, source, args.work / "out" / method)
                    if result is None:
                        continue
                    runs[method].append(result)
                    print(f"{fmt} {size} {method} run {i + 1}: {json.dumps(result)}",
                          file=sys.stderr)  # fmt: skip
            results[(fmt, size)] = runs
            shown[(fmt, size)] = source.stat().st_size / 2**20
    statement = "from vtp.components.data.splitting import split_dataset"
    print("\n".join(table(results, shown)))
    print(f"\nimport of the split's code path: {import_time(statement):.2f} s "
          f"(kfp.dsl alone: {import_time('import kfp.dsl'):.2f} s)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({f"{f} {s}": r for (f, s), r in results.items()}, indent=1))


if __name__ == "__main__":
    main()
