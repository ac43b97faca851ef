"""Replica processes: own process group, death signal, streamed logs, whole-group stop."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

TAIL_LINES = 50
#: The longest line kept whole in memory and on the terminal: a longer line is read in pieces
#: of this size, so one giant line cannot take the memory of the reader.
MAX_LINE_BYTES = 64 * 1024
#: The longest part of a replica's line passed on to the job's log callable.
MAX_ECHO_CHARS = 4000
_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl


_PRCTL = _load_prctl()


def death_signal_preexec(parent: int) -> Callable[[], None] | None:
    """A `preexec_fn` making the child die with SIGKILL when `parent` dies (Linux only)."""
    prctl = _PRCTL
    if prctl is None:
        return None
    kill = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class Reaper:
    """The client of `vtp.local._reaper`: tells it every process group this process starts, so
    the groups are stopped even when this process dies without stopping them (SIGKILL)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "vtp.local._reaper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
            bufsize=1,
        )

    def _send(self, line: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            assert self._proc.stdin is not None
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()

    def guard(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def release(self, pgid: int) -> None:
        self._send(f"-{pgid}")

    def close(self) -> None:
        """Ends the reaper with nothing left to stop (a clean exit)."""
        with self._lock, contextlib.suppress(OSError, ValueError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)


_REAPER: Reaper | None = None
_REAPER_LOCK = threading.Lock()


def start_reaper() -> Reaper:
    """Starts this process's reaper (once); later process groups are guarded by it."""
    global _REAPER
    with _REAPER_LOCK:
        if _REAPER is None:
            _REAPER = Reaper()
        return _REAPER


def stop_reaper() -> None:
    global _REAPER
    with _REAPER_LOCK:
        reaper, _REAPER = _REAPER, None
    if reaper is not None:
        reaper.close()


def guard_group(pgid: int) -> None:
    """Registers a process group with the reaper, when one runs."""
    reaper = _REAPER
    if reaper is not None:
        reaper.guard(pgid)


def release_group(pgid: int) -> None:
    reaper = _REAPER
    if reaper is not None:
        reaper.release(pgid)


def read_pieces(stream, max_bytes: int = MAX_LINE_BYTES):
    """A binary stream's lines in pieces of at most `max_bytes`, as
    `(text, first, last)`: a line longer than that comes in several pieces (`first` marks a
    line's first piece, `last` its end), so a giant line never sits in memory whole."""
    first = True
    for raw in iter(lambda: stream.readline(max_bytes), b""):
        last = raw.endswith(b"\n")
        yield raw.decode("utf-8", "replace").rstrip("\r\n"), first, last
        first = last


def describe_exit(code: int) -> str:
    """`3` -> `failed with exit code 3`; `-9` -> `was killed by signal SIGKILL`."""
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"failed with exit code {code}"


class ReplicaProcess:
    """One running replica: its process group, its log file and an in-memory tail.

    Must be created in the thread that waits for it: the death signal fires when the
    creating thread exits.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None,
        log_path: Path,
        emit: Callable[[str], None],
    ):
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self._emit = emit
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed by the reader)
        self.started = time.monotonic()
        self.ended: float | None = None
        try:
            self.proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                preexec_fn=death_signal_preexec(os.getpid()),
            )
        except BaseException:
            self._file.close()
            raise
        guard_group(self.proc.pid)
        self._reader = threading.Thread(target=self._read, name=f"vtp-{name}", daemon=True)
        self._reader.start()
        # Stamps the exit time as it happens, so the first replica to fail is known even when
        # several exit between two polls.
        threading.Thread(target=self._stamp_exit, name=f"vtp-{name}-exit", daemon=True).start()

    def _stamp_exit(self) -> None:
        self.proc.wait()
        if self.ended is None:
            self.ended = time.monotonic()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self._file as file, self.proc.stdout as out:
            for text, first, last in read_pieces(out):
                file.write(text + ("\n" if last else ""))  # the log keeps a long line whole
                file.flush()
                if not first:
                    continue  # the terminal and the tail get a line's first piece only
                with self._lock:
                    self._tail.append(text)
                more = "" if last else " ... [line continues in the log]"
                self._emit(f"[{self.name}] {text[:MAX_ECHO_CHARS]}{more}")

    def poll(self) -> int | None:
        """The exit code once the replica's main process has exited, else None."""
        code = self.proc.poll()
        if code is not None and self.ended is None:
            self.ended = time.monotonic()
        return code

    @property
    def duration(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def tail(self) -> list[str]:
        """The last `TAIL_LINES` lines of output."""
        with self._lock:
            return list(self._tail)

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the replica's whole process group (grandchildren included)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def group_alive(self) -> bool:
        """Whether any process of the replica's group is still running."""
        self.poll()
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return group_has_live_member(self.proc.pid)

    def finish_output(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until the replica's output has been read to the end."""
        self._reader.join(timeout)


def group_has_live_member(pgid: int) -> bool:
    """False when every member of the group is a zombie waiting to be reaped."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def stop_all(replicas: Sequence[ReplicaProcess], grace: float) -> None:
    """SIGTERM every live replica group, then SIGKILL what is left after `grace` seconds."""
    live = [r for r in replicas if r.group_alive()]
    for replica in live:
        replica.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = [r for r in live if r.group_alive()]
    for replica in live:
        replica.signal_group(signal.SIGKILL)
    for replica in replicas:
        with contextlib.suppress(subprocess.TimeoutExpired):
            replica.proc.wait(timeout=5)
        replica.poll()
        if not replica.group_alive():
            release_group(replica.proc.pid)


class Terminated(BaseException):
    """SIGTERM arrived while replicas were running."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[Callable[[], None]]:
    """Turn SIGTERM into `Terminated` while the block runs (main thread only).

    Yields a function that re-delivers the SIGTERM to the handler restored on exit; call it
    after cleaning up.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    if previous in (None, signal.SIG_IGN):
        yield lambda: None
        return

    raised = False

    def handler(signum: int, frame: object) -> None:
        nonlocal raised
        if not raised:  # later SIGTERMs must not interrupt the cleanup
            raised = True
            raise Terminated(signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield lambda: signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
