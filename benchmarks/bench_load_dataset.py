"""Benchmark `split_dataset` against pandas + scikit-learn and a plain pyarrow CSV->Parquet stream.

Generates deterministic CSV files (mixed numeric/string columns, streamed to disk) under
`benchmarks/.work/`, then runs each method in a fresh subprocess and records its wall time
and peak RSS (`os.wait4` rusage of that child). Methods:

  pandas  pd.read_csv + sklearn train_test_split (twice) + DataFrame.to_parquet per split
  arrow   pyarrow.csv.open_csv -> one ParquetWriter (no split: the practical limit)
  vtp     components.data.splitting.split_dataset (train/validation/test = 0.8/0.1/0.1)
  vtp_key the same, split by a hash of the `user_id` column instead of the row index

Every method writes snappy-compressed Parquet; arrow and vtp read 1 MiB CSV blocks
(pyarrow's default block size).

    python benchmarks/bench_load_dataset.py --sizes 128M,512M,1G --repeat 3
    python benchmarks/bench_load_dataset.py --quick
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
METHODS = ("pandas", "arrow", "vtp", "vtp_key")
BLOCK_SIZE = 1 << 20
COMPRESSION = "snappy"
SPLITS = ("train", "validation", "test")


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


def run_method(method: str, source: Path, out: Path) -> dict:
    """Run one method in this process (the child side): rows, work seconds and CPU seconds.

    Imports happen before the clock starts; the parent's wall time includes them.
    """
    import resource

    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if method == "pandas":
        import pandas as pd
        from sklearn.model_selection import train_test_split
    elif method in ("vtp", "vtp_key"):
        sys.path.insert(0, str(REPO))
        from vtp.components.data.splitting import split_dataset
    elif method != "arrow":
        raise SystemExit(f"--child must be one of {METHODS}, got {method!r}")
    out.mkdir(parents=True, exist_ok=True)
    paths = [str(out / f"{s}.parquet") for s in SPLITS]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    if method == "pandas":
        frame = pd.read_csv(source)
        train, rest = train_test_split(frame, test_size=0.2, random_state=42)
        validation, test = train_test_split(rest, test_size=0.5, random_state=42)
        for part, path in zip((train, validation, test), paths, strict=True):
            part.to_parquet(path, compression=COMPRESSION, index=False)
        rows = len(frame)
    elif method == "arrow":
        reader = pa_csv.open_csv(source, read_options=pa_csv.ReadOptions(block_size=BLOCK_SIZE))
        rows = 0
        with pq.ParquetWriter(paths[0], reader.schema, compression=COMPRESSION) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    else:
        key = "user_id" if method == "vtp_key" else None
        rows = split_dataset(str(source), *paths, key_column=key, block_size=BLOCK_SIZE).total_rows
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    return {"rows": rows, "seconds": seconds, "cpu": cpu}


def measure(method: str, source: Path, out: Path) -> dict:
    """Run `method` in a fresh subprocess; its work time, wall time and peak RSS."""
    cmd = [sys.executable, __file__, "--child", method, "--input", str(source), "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=REPO)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{method} failed with exit code {proc.returncode}")
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    out_bytes = sum(p.stat().st_size for p in out.glob("*.parquet"))
    shutil.rmtree(out, ignore_errors=True)
    return {**result, "wall": wall, "rss_mb": usage.ru_maxrss / 1024, "out_mb": out_bytes / 2**20}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="128M,512M,1G", help="CSV sizes, e.g. 128M,512M,1G")
    parser.add_argument("--quick", action="store_true", help="small sizes (8M,32M), 1 repeat")
    parser.add_argument("--repeat", type=int, default=3, help="runs of arrow and vtp per size")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--work", type=Path, default=WORK, help="data directory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_method(args.child, args.input, args.out)))
        return
    sizes = ["8M", "32M"] if args.quick else args.sizes.split(",")
    repeat = 1 if args.quick else args.repeat
    methods = [m for m in args.methods.split(",") if m]
    lines = [
        "| CSV size | rows | method | work s | CPU s | process s | MB/s | x arrow (work / CPU)"
        " | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        source = args.work / f"data-{size.upper()}.csv"
        if not source.exists():
            t0 = time.perf_counter()
            generate_csv(source, parse_size(size))
            print(f"generated {source} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        mb = source.stat().st_size / 2**20
        runs: dict[str, list[dict]] = {m: [] for m in methods}
        for i in range(repeat):
            for method in methods:
                if method == "pandas" and i > 0:
                    continue
                result = measure(method, source, args.work / "out" / method)
                runs[method].append(result)
                print(f"{size} {method} run {i + 1}: {json.dumps(result)}", file=sys.stderr)
        median = {
            m: {k: statistics.median(r[k] for r in runs[m]) for k in ("seconds", "cpu", "wall")}
            for m in methods
        }
        base = median.get("arrow")
        for method in methods:
            med = median[method]
            ratio = (
                f"{med['seconds'] / base['seconds']:.2f} / {med['cpu'] / base['cpu']:.2f}"
                if base
                else "-"
            )
            rss = max(r["rss_mb"] for r in runs[method])
            lines.append(
                f"| {mb:,.0f} MB | {runs[method][0]['rows']:,} | {method} | {med['seconds']:.2f} "
                f"| {med['cpu']:.2f} | {med['wall']:.2f} | {mb / med['seconds']:,.0f} | {ratio} "
                f"| {rss:,.0f} |"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
