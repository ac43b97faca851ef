"""The zygote: a process that has imported KFP's executor once and forks a child per
lightweight component, so a step starts in milliseconds instead of paying for a new
interpreter and KFP's imports (about 0.5-1 s per step).

    python -m vtp.local.orchestrator._zygote FD

FD is a Unix SOCK_SEQPACKET socket to the orchestrator. Messages, one JSON object each:

- orchestrator -> zygote: `{"id": N, "request": PATH}` with the write end of a pipe attached
  (SCM_RIGHTS); PATH holds `{"argv", "env", "cwd"}`. The child runs `_component_main.run(argv)`
  with that environment and directory, its stdout and stderr on the pipe.
- zygote -> orchestrator: `{"ready": true}` once the imports are done, `{"id": N, "pid": P}`
  when a child started, `{"pid": P, "exit": CODE}` when it ended (a negative code: the signal).

Each child is in its own session (the orchestrator stops it with its process group) and dies
with the zygote (PR_SET_PDEATHSIG); the zygote dies with the orchestrator. It stays single
threaded (forking a process with threads is unsafe), and imports only modules that start no
thread: what it imports before forking is checked.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import sys

#: Imported once, before the first fork: KFP's executor and what vtp's components import.
PRELOAD = (
    "kfp.dsl.executor_main",
    "google_cloud_pipeline_components.types.artifact_types",
    "google.cloud.aiplatform_v1.types",
    "vtp.gcs",
    "vtp.local.orchestrator._component_main",
)
_PR_SET_PDEATHSIG = 1


def _prctl_death_signal() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _send(sock: socket.socket, message: dict) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:
        os._exit(0)  # the orchestrator is gone


def _child(request: dict, out_fd: int, sock: socket.socket, parent: int) -> None:
    """In the forked child: become the component process, never return."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        sock.close()
        os.setsid()
        _prctl_death_signal()
        if os.getppid() != parent:
            os._exit(1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        os.close(devnull)
        sys.stdout.reconfigure(line_buffering=True)
        sys.stderr.reconfigure(line_buffering=True)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        for entry in reversed([p for p in request["env"].get("PYTHONPATH", "").split(":") if p]):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        from vtp.local.orchestrator import _component_main

        code = _component_main.run(list(request["argv"]))
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def serve(sock: socket.socket) -> None:
    import threading

    for module in PRELOAD:
        __import__(module)
    if threading.active_count() != 1:  # pragma: no cover - a preloaded module started a thread
        _send(sock, {"ready": False, "error": "a preloaded module started a thread"})
        return
    read_wake, write_wake = os.pipe()
    os.set_blocking(write_wake, False)
    signal.set_wakeup_fd(write_wake)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the orchestrator decides when steps stop
    _send(sock, {"ready": True})
    parent = os.getpid()
    while True:
        try:
            ready, _, _ = select.select([sock, read_wake], [], [])
        except InterruptedError:
            continue
        if read_wake in ready:
            os.read(read_wake, 4096)
        if sock in ready:
            try:
                data, fds, _, _ = socket.recv_fds(sock, 65536, 1)
            except OSError:
                data, fds = b"", []
            if not data:
                os._exit(0)  # the orchestrator is gone; children die with us (no teardown)
            message = json.loads(data)
            try:
                with open(message["request"], encoding="utf-8") as f:
                    request = json.load(f)
            except (OSError, ValueError) as err:
                for fd in fds:
                    os.close(fd)
                _send(sock, {"id": message["id"], "error": str(err)})
                continue
            pid = os.fork()
            if pid == 0:
                _child(request, fds[0], sock, parent)
            for fd in fds:
                os.close(fd)
            _send(sock, {"id": message["id"], "pid": pid})
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            _send(sock, {"pid": pid, "exit": os.waitstatus_to_exitcode(status)})


def main() -> None:
    _prctl_death_signal()
    sock = socket.socket(fileno=int(sys.argv[1]))
    serve(sock)


if __name__ == "__main__":
    main()
