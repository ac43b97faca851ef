"""Step processes: a task's program running on this machine, in its own process group,
dying with vtp, its output in the task's log.

Two ways to start one, with the same handle (`StepProcess`): a new process (`spawn`), or a
child forked by the zygote (`Zygote.spawn`, lightweight Python components only). Either way
the process leads its own process group, which the reaper guards and `stop` ends: SIGTERM,
then SIGKILL after the grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vtp.local.orchestrator.tasklog import pump
from vtp.local.replica_process import (
    death_signal_preexec,
    group_has_live_member,
    guard_group,
    release_group,
)

STOP_GRACE_S = 2.0


class StepProcess:
    """A running step: wait for it, stop it (with everything it started)."""

    def __init__(self, pid: int, reader: threading.Thread | None):
        self.pid = pid
        self._reader = reader
        self._done = threading.Event()
        self.exit_code: int | None = None
        guard_group(pid)

    def _finished(self, code: int) -> None:
        self.exit_code = code
        self._done.set()

    def wait(self, should_stop: Callable[[], bool], grace: float = STOP_GRACE_S) -> int | None:
        """The exit code; None when `should_stop()` turned true and the step was stopped."""
        while not self._done.wait(0.05):
            if should_stop():
                self.stop(grace)
                return None
        self._drain()
        return self.exit_code

    def _drain(self) -> None:
        if self._reader is not None:
            self._reader.join(5)
        if not self.group_alive():
            release_group(self.pid)
        else:  # the step exited, what it started did not: end it with the step
            self._stop_group(0.5)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return group_has_live_member(self.pid)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _stop_group(self, grace: float) -> None:
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.group_alive():
            self._signal(signal.SIGKILL)
            deadline = time.monotonic() + 2
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
        release_group(self.pid)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM to the group, SIGKILL after `grace` seconds; returns when it is gone."""
        self._stop_group(grace)
        self._done.wait(2)
        if self._reader is not None:
            self._reader.join(2)


class _PopenStep(StepProcess):
    def __init__(self, proc: subprocess.Popen, reader: threading.Thread):
        self.proc = proc
        super().__init__(proc.pid, reader)
        threading.Thread(target=self._watch, name=f"vtp-wait-{proc.pid}", daemon=True).start()

    def _watch(self) -> None:
        self._finished(self.proc.wait())


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path | None,
    sink: Callable[[str], None],
) -> StepProcess:
    """Starts `argv` as a new process (own session, dies with this thread's process).

    Raises:
        OSError: the program cannot be started.
    """
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
        preexec_fn=death_signal_preexec(os.getpid()),
    )
    return _PopenStep(proc, pump(proc.stdout, sink))


@dataclass(frozen=True)
class Standby:
    """A standby child of the zygote: its id there, its pid, the read end of its output."""

    ident: int
    pid: int
    read_fd: int


class Zygote:
    """The client of `_zygote`: one per run, started from the main thread."""

    def __init__(self, env: Mapping[str, str]):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self._lock = threading.Lock()
        self._next = 0
        self._started: dict[int, list] = {}
        self._children: dict[int, StepProcess] = {}
        self._early_exits: dict[int, int] = {}
        self.ready = threading.Event()
        self.failed = False
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "vtp.local.orchestrator._zygote", str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**env, "_KFP_RUNTIME": "true", "PYTHONUNBUFFERED": "1"},
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                preexec_fn=death_signal_preexec(os.getpid()),
            )
        finally:
            theirs.close()
        guard_group(self._proc.pid)
        threading.Thread(target=self._read, name="vtp-zygote", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            if "ready" in message:
                self.failed = not message["ready"]
                self.ready.set()
            elif "exit" in message and message.get("standby"):
                pass  # a standby that never ran a step: nobody waits for it
            elif "exit" in message:
                with self._lock:
                    child = self._children.pop(message["pid"], None)
                    if child is None:  # its answer not handled yet: `_child` takes it
                        self._early_exits[message["pid"]] = message["exit"]
                if child is not None:
                    child._finished(message["exit"])
            elif "id" in message:
                with self._lock:
                    slot = self._started.get(message["id"])
                if slot is not None:
                    slot.append(message)
                    slot[0].set()
        self.failed = True
        self.ready.set()
        with self._lock:
            orphans, self._children = list(self._children.values()), {}
        for child in orphans:
            child._finished(-int(signal.SIGKILL))
        for slot in list(self._started.values()):
            slot[0].set()

    @property
    def usable(self) -> bool:
        return self.ready.is_set() and not self.failed

    def wait_ready(self, should_stop: Callable[[], bool], timeout: float = 120.0) -> bool:
        """Waits until the zygote has done its imports (a new process would do the same ones,
        on the same cores: waiting is never slower); False if it failed, timed out or the run
        is stopping."""
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            if should_stop() or time.monotonic() > deadline:
                return False
        return not self.failed

    def kill(self) -> None:
        """Ends the zygote at once (a run that does not start: its imports are not needed)."""
        with contextlib.suppress(OSError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self.close()

    def _ask(self, message: dict, fds: Sequence[int] = ()) -> dict:
        """Sends `message` (with `fds` attached) and waits for the zygote's answer to it.

        Raises:
            OSError: the zygote is gone or did not answer.
        """
        with self._lock:
            self._next += 1
            ident = self._next
            slot: list = [threading.Event()]
            self._started[ident] = slot
        try:
            socket.send_fds(self._sock, [json.dumps({"id": ident, **message}).encode()], fds)
            if not slot[0].wait(30) or len(slot) < 2:
                raise OSError("the zygote did not answer")
            return slot[1]
        finally:
            with self._lock:
                self._started.pop(ident, None)

    def _child(self, pid: int, reader: threading.Thread) -> StepProcess:
        with self._lock:
            child = StepProcess(pid, reader)
            early = self._early_exits.pop(pid, None)
            if early is None:
                self._children[pid] = child
        if early is not None:
            child._finished(early)
        return child

    def prepare(
        self, *, env: Mapping[str, str], cwd: str | Path, preload: Sequence[str], work_dir: Path
    ) -> Standby | None:
        """Forks a standby child that enters the step's environment and imports `preload`
        now, ahead of its request (`spawn(..., standby=)`); None if the zygote cannot."""
        if not self.usable:
            return None
        work_dir.mkdir(parents=True, exist_ok=True)
        setup = work_dir / "zygote-standby.json"
        setup.write_text(
            json.dumps({"env": dict(env), "cwd": str(cwd), "preload": list(preload)}),
            encoding="utf-8",
        )
        read_fd, write_fd = os.pipe()
        try:
            answer = self._ask({"prepare": str(setup)}, [write_fd])
        except OSError:
            os.close(read_fd)
            return None
        finally:
            os.close(write_fd)
            with contextlib.suppress(OSError):
                setup.unlink()  # read before the fork; it holds the step's environment
        if "pid" not in answer:
            os.close(read_fd)
            return None
        guard_group(answer["pid"])  # what its imports start is stopped with it, whatever happens
        return Standby(answer["id"], answer["pid"], read_fd)

    def discard(self, standby: Standby) -> None:
        """Ends a standby that will not be used."""
        with contextlib.suppress(OSError):
            self._sock.send(json.dumps({"discard": standby.ident}).encode())
        self._forget(standby)

    @staticmethod
    def _forget(standby: Standby) -> None:
        """This side's hold on a standby that will run no step: its output, its group."""
        with contextlib.suppress(OSError):
            os.close(standby.read_fd)
        release_group(standby.pid)

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | Path,
        sink: Callable[[str], None],
        work_dir: Path,
        standby: Standby | None = None,
        profile: Path | None = None,
    ) -> StepProcess:
        """Runs `_component_main.run(argv)` in a child: `standby` if given and still there,
        else a new fork. The request goes through a file in `work_dir`; a child that
        succeeds writes the modules it imported to `profile`.

        Raises:
            OSError: the zygote is gone or could not fork.
        """
        work_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._next += 1
            request = work_dir / f"zygote-request-{self._next}.json"
        request.write_text(
            json.dumps(
                {
                    "argv": list(argv),
                    "env": dict(env),
                    "cwd": str(cwd),
                    "profile": str(profile) if profile else "",
                }
            ),
            encoding="utf-8",
        )
        if standby is not None:  # the standby reads the request file, then deletes it
            try:
                answer = self._ask({"request": str(request), "standby": standby.ident})
            except OSError:
                self._forget(standby)
                raise
            if "pid" in answer:
                return self._child(answer["pid"], pump(os.fdopen(standby.read_fd, "rb"), sink))
            self._forget(standby)  # gone: a new fork below
        read_fd, write_fd = os.pipe()
        try:
            answer = self._ask({"request": str(request)}, [write_fd])
        except OSError:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
            with contextlib.suppress(OSError):
                request.unlink()  # read before the fork, or never: it holds the environment
        reader = pump(os.fdopen(read_fd, "rb"), sink)
        if "pid" not in answer:
            raise OSError(f"the zygote could not start the step: {answer.get('error')}")
        return self._child(answer["pid"], reader)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # the zygote reads end-of-file and exits
        with contextlib.suppress(OSError):
            self._sock.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        release_group(self._proc.pid)
