"""The distributed example: the all-reduce of its collective, and the trainer as a local job.

1. All-reduce (`trainer/distributed/collective.py`) on loopback, every rank its own process
   as in a real job, world sizes 2, 3, 4, float64 arrays of 1 KiB to 16 MiB. The baseline
   moves the same bytes between the same processes through plain TCP sockets (each worker
   sends its array to rank 0, rank 0 sends an array of that size back to every worker: no
   framing, no header, no copies, no sum), so the protocol's own cost is the difference.
   Repetitions alternate between the two and start after a barrier; a repetition's time is
   that of its slowest rank, divided by the calls it made back to back. Rank 0's CPU time
   per call and the cost of the sum alone are measured too.
2. End to end: `python -m trainer.distributed.task` as a local custom job through
   `components.local.executor.run_local_job`, with 1 (primary only), 2 and 3 replicas on the
   shipped data (split as the tests split it): wall time per job, and its phases and the time
   per training step read from the timestamps of the primary's log.

Prints two Markdown tables; the raw figures go to `benchmarks/.work/distributed/results.json`.

    python benchmarks/bench_distributed.py [--repeat 3] [--collective-repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

WORK = REPO / "benchmarks" / ".work" / "distributed"
DATA = REPO / "data" / "breast_cancer.csv"
TRAIN_ROWS, VALIDATION_ROWS = 470, 50  # as tests/test_distributed_trainer.py splits the data
KIB, MIB = 1 << 10, 1 << 20
DEFAULT_SIZES = "1K,4K,16K,64K,256K,1M,4M,16M"
CALL_BYTES = 32 * MIB  # calls per repetition: about this many bytes, 1 to 100 calls
CLUSTER_VARS = ("CLUSTER_SPEC", "TF_CONFIG", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")
LOOPBACK = "127.0.0.1"


def parse_size(text: str) -> int:
    """'1K' / '16M' / '8192' -> bytes, a multiple of 8 (float64)."""
    units = {"K": KIB, "M": MIB}
    text = text.strip().upper()
    try:
        size = int(text[:-1]) * units[text[-1]] if text[-1:] in units else int(text)
    except ValueError:
        size = 0
    if size < 8 or size % 8:
        raise ValueError(f"--sizes must be multiples of 8 bytes (1K, 16M, 8192), got {text!r}")
    return size


def human(size: int) -> str:
    if size >= MIB:
        return f"{size / MIB:g} MiB"
    return f"{size / KIB:g} KiB" if size >= KIB else f"{size} B"


def counts(text: str, flag: str, least: int) -> list[int]:
    """'2,3,4' -> [2, 3, 4], each at least `least`."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < least:
        raise ValueError(f"{flag} must be whole numbers >= {least}, comma-separated, got {text!r}")
    return values


def calls_per_repetition(size: int) -> int:
    return max(1, min(100, CALL_BYTES // size))


# -- 1. the collective: one child process per rank -------------------------------------------


def plain_links(rank: int, world: int, port: int) -> dict[int, socket.socket]:
    """The baseline's star of plain TCP connections (TCP_NODELAY, as the collective's)."""
    if rank == 0:
        links = {}
        with socket.create_server((LOOPBACK, port)) as server:
            while len(links) < world - 1:
                conn, _ = server.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                links[int.from_bytes(recv_exact(conn, bytearray(4)), "big")] = conn
        return links
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = socket.create_connection((LOOPBACK, port), timeout=30)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.sendall(rank.to_bytes(4, "big"))
    return {0: conn}


def recv_exact(conn: socket.socket, buffer) -> bytes | bytearray:
    view, got = memoryview(buffer).cast("B"), 0
    while got < len(view):
        count = conn.recv_into(view[got:])
        if count == 0:
            raise ConnectionError("the peer closed its connection")
        got += count
    return buffer


def child(rank: int, world: int, ports: list[int], sizes: list[int], reps: int) -> None:
    """One rank: for every size, the collective's all-reduce and the plain baseline."""
    from trainer.distributed.collective import Collective

    comm = Collective.connect(
        rank, world, LOOPBACK, ports[0], timeout_s=120.0, rendezvous_timeout_s=60.0
    )
    links = plain_links(rank, world, ports[1])
    results = {str(size): measure(comm, links, size, reps) for size in sizes}
    comm.barrier()
    comm.close()
    for link in links.values():
        link.close()
    if rank == 0:
        print(json.dumps(results))


def measure(comm, links: dict[int, socket.socket], size: int, reps: int) -> dict:
    """`reps` timed repetitions of each method on `size`-byte arrays (rank 0's result)."""
    rank, world = comm.rank, comm.world_size
    mine = np.full(size // 8, float(rank + 1))
    inbox = {r: np.empty_like(mine) for r in links}
    outgoing = memoryview(mine).cast("B")

    def plain() -> None:
        if rank == 0:  # the same bytes as an all-reduce: one array in, one out per worker
            for r in sorted(links):
                recv_exact(links[r], inbox[r])
            for r in sorted(links):
                links[r].sendall(outgoing)
        else:
            links[0].sendall(outgoing)
            recv_exact(links[0], inbox[0])

    def collective() -> None:
        comm.allreduce(mine)

    total = comm.allreduce(mine)  # warm-up, and a check that the sum is right
    if not np.array_equal(total, np.full_like(mine, world * (world + 1) / 2)):
        raise SystemExit(f"rank {rank}: wrong all-reduce result for {human(size)}")
    plain()
    calls = calls_per_repetition(size)
    methods = {"collective": collective, "plain": plain}
    found: dict[str, list[float]] = {}
    for rep in range(reps):
        for name in sorted(methods, reverse=rep % 2 == 1):  # alternate which goes first
            comm.barrier()
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                methods[name]()
            took = [time.perf_counter() - started, time.process_time() - cpu]
            per_rank = comm.gather(np.array(took) / calls)
            if rank == 0:  # wall: the slowest rank; CPU: the primary's, the workers' mean
                found.setdefault(name, []).append(max(float(t[0]) for t in per_rank))
                found.setdefault(f"{name}_cpu", []).append(float(per_rank[0][1]))
                workers = [float(t[1]) for t in per_rank[1:]]
                found.setdefault(f"{name}_worker_cpu", []).append(statistics.mean(workers))
    return {**found, "calls": calls, "sum": sum_time(mine, world) if rank == 0 else None}


def sum_time(array: np.ndarray, world: int) -> float:
    """The primary's arithmetic alone: the collective's copy and `world - 1` additions."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        total = array.astype(np.float64, copy=True)
        for _ in range(world - 1):
            total += array
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def collective_bench(world: int, sizes: list[int], reps: int, logs: Path) -> dict:
    """Starts `world` rank processes and returns rank 0's measurements."""
    from vtp.local.replica_env import free_ports

    ports = free_ports(2)
    sizes_arg = ",".join(map(str, sizes))
    procs = []
    logs.mkdir(parents=True, exist_ok=True)
    for rank in range(world):
        argv = [sys.executable, __file__, "--child", f"{rank},{world},{ports[0]},{ports[1]}"]
        argv += ["--sizes", sizes_arg, "--collective-repeat", str(reps)]
        with open(logs / f"rank{rank}.err", "w") as err:
            procs.append(
                subprocess.Popen(
                    argv,
                    cwd=REPO,
                    stdout=subprocess.PIPE if rank == 0 else subprocess.DEVNULL,
                    stderr=err,
                    text=True,
                )
            )
    try:
        out, _ = procs[0].communicate(timeout=600)
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            p.kill()
    if codes != [0] * world:
        errors = {r: (logs / f"rank{r}.err").read_text()[-2000:] for r in range(world)}
        raise SystemExit(f"world size {world}: rank exit codes {codes}: {errors}")
    return json.loads(out)


# -- 2. end to end: the trainer as a local custom job ----------------------------------------


def prepare_data(root: Path) -> dict[str, Path]:
    import pandas as pd

    frame = pd.read_csv(DATA).sample(frac=1.0, random_state=7)
    root.mkdir(parents=True, exist_ok=True)
    paths = {"train": root / "train.parquet", "validation": root / "validation.parquet"}
    frame.iloc[:TRAIN_ROWS].to_parquet(paths["train"])
    frame.iloc[TRAIN_ROWS : TRAIN_ROWS + VALIDATION_ROWS].to_parquet(paths["validation"])
    return paths


def trainer_pool(data: dict[str, Path], replicas: int) -> dict:
    from vtp.defaults import DISTRIBUTED_TRAINER_IMAGE

    return {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": replicas,
        "container_spec": {
            "image_uri": DISTRIBUTED_TRAINER_IMAGE,
            "command": ["python", "-m", "trainer.distributed.task"],
            "env": [
                {"name": "AIP_TRAINING_DATA_URI", "value": str(data["train"])},
                {"name": "AIP_VALIDATION_DATA_URI", "value": str(data["validation"])},
            ],
        },
    }


def step_times(log: str) -> dict[int, float]:
    """`{step: epoch seconds}` of the primary's `step N/M: loss ...` lines."""
    found = {}
    for line in log.splitlines():
        stamp, _, rest = line.partition(" INFO trainer.distributed: step ")
        if rest and "/" in rest:
            when = datetime.strptime(stamp[-23:], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            found[int(rest.split("/", 1)[0])] = when
    return found


def job_run(data: dict[str, Path], replicas: int, work: Path) -> dict[str, float]:
    """One local job; wall time and its phases from the primary's log."""
    from vtp.local.executor import JobState, LocalJob, run_local_job

    pools = [trainer_pool(data, 1)] + ([trainer_pool(data, replicas - 1)] if replicas > 1 else [])
    job = LocalJob(f"bench-{replicas}", pools, base_output_directory=str(work / "out"))
    begun, started = time.time(), time.perf_counter()
    result = run_local_job(
        job,
        work_dir=work / "work",
        gcs_root=work / "gcs",
        image_commands={},
        log=lambda line: None,
        cwd=REPO,
        runtime="process",
        extra_env={"CLOUD_ML_HP_METRIC_FILE": str(work / "hypertune" / "output.metrics")},
    )
    wall = time.perf_counter() - started
    metadata = json.loads((Path(result.model_dir) / "model_metadata.json").read_text())
    if result.state is not JobState.SUCCEEDED or metadata["distributed"]["world_size"] != replicas:
        raise SystemExit(f"{replicas} replicas: job {result.state}, metadata {metadata}")
    steps = step_times((work / "work" / "logs" / "workerpool0-0.log").read_text())
    first, second, last = sorted(steps)[0], sorted(steps)[1], max(steps)
    return {
        "wall": wall,
        "to_first_step": steps[first] - begun,
        "training": steps[last] - steps[first],
        # From the step-1 line to the step-50 line the primary only trains: it scores the
        # validation split after logging steps 50, 100, ... 250.
        "per_step": (steps[second] - steps[first]) / (second - first),
        "per_step_all": (steps[last] - steps[first]) / (last - first),
        "after_last_step": begun + wall - steps[last],
    }


# -- report ----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


def rate(size: int, seconds: float) -> str:
    value = size / MIB / seconds
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="jobs per replica count (3)")
    parser.add_argument(
        "--collective-repeat", type=int, default=7, help="repetitions per all-reduce size (7)"
    )
    parser.add_argument("--worlds", default="2,3,4", help="all-reduce world sizes (2,3,4)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"array sizes ({DEFAULT_SIZES})")
    parser.add_argument("--replicas", default="1,2,3", help="end-to-end replica counts (1,2,3)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        sizes = [parse_size(s) for s in args.sizes.split(",")]
        worlds = counts(args.worlds, "--worlds", 2)
        replicas = counts(args.replicas, "--replicas", 1)
    except ValueError as err:
        parser.error(str(err))
    if min(args.repeat, args.collective_repeat) < 1:
        parser.error("--repeat and --collective-repeat must be >= 1")
    if args.child:
        rank, world, *ports = map(int, args.child.split(","))
        child(rank, world, ports, sizes, args.collective_repeat)
        return
    for name in (*CLUSTER_VARS, "VTP_RUNTIME"):  # this process is no replica
        os.environ.pop(name, None)
    shutil.rmtree(WORK, ignore_errors=True)
    load_before = os.getloadavg()
    began = time.perf_counter()

    collective = {
        w: collective_bench(w, sizes, args.collective_repeat, WORK / "ranks" / str(w))
        for w in worlds
    }
    collective_s = time.perf_counter() - began

    data = prepare_data(WORK / "data")
    jobs: dict[int, list[dict]] = {n: [] for n in replicas}
    for i in range(args.repeat):
        turn = i % len(replicas)
        for n in replicas[turn:] + replicas[:turn]:  # rotate the order
            work = WORK / "jobs" / f"{n}-{i}"
            jobs[n].append(job_run(data, n, work))
            shutil.rmtree(work, ignore_errors=True)

    print(
        f"| world | size | all-reduce | MiB/s | plain sockets | MiB/s | all-reduce / plain | "
        f"rank 0 CPU per call: all-reduce / plain | sum alone | median of "
        f"{args.collective_repeat} |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for w, by_size in collective.items():
        for size in sizes:
            r = {
                k: statistics.median(v) if isinstance(v, list) else v
                for k, v in by_size[str(size)].items()
            }
            c, p = r["collective"], r["plain"]
            print(
                f"| {w} | {human(size)} | {ms(c)} | {rate(size, c)} | {ms(p)} | {rate(size, p)} | "
                f"{c / p:.1f}x | {ms(r['collective_cpu'])} / {ms(r['plain_cpu'])} | "
                f"{ms(r['sum'])} | {r['calls']} calls each |"
            )
    print()
    print(
        f"| replicas | wall (median of {args.repeat}) | to step 1 | steps 1-300 | "
        "per step, steps 1-50 | after the last step |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for n, runs in jobs.items():
        m = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
        print(
            f"| {n} | {m['wall']:.2f} s | {m['to_first_step']:.2f} s | {m['training']:.3f} s | "
            f"{m['per_step'] * 1e3:.2f} ms | {m['after_last_step']:.2f} s |"
        )
    raw = {
        "collective": collective,
        "jobs": jobs,
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "seconds": {"collective": collective_s, "total": time.perf_counter() - began},
    }
    (WORK / "results.json").write_text(json.dumps(raw, indent=1))
    print(json.dumps({k: raw[k] for k in ("cpus", "loadavg_before", "loadavg_after", "seconds")}))
    print(f"raw figures: {(WORK / 'results.json').relative_to(REPO)}")


if __name__ == "__main__":
    main()
