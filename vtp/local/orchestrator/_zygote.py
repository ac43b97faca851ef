"""The zygote: a process that has imported KFP's executor once and forks a child per
lightweight component, so a step starts in milliseconds instead of paying for a new
interpreter and KFP's imports (about 0.5-1 s per step).

    python -m vtp.local.orchestrator._zygote FD

FD is a Unix SOCK_SEQPACKET socket to the orchestrator. Messages, one JSON object each:

- orchestrator -> zygote: `{"id": N, "request": PATH}` with the write end of a pipe attached
  (SCM_RIGHTS); PATH holds `{"argv", "env", "cwd", "profile"}`. The child runs
  `_component_main.run(argv)` with that environment and directory, its stdout and stderr on
  the pipe, and when it succeeds writes the modules it imported to the `profile` file.
- `{"id": N, "prepare": PATH}` with a pipe attached, PATH holding `{"env", "cwd", "preload"}`:
  a *standby* child enters that environment, imports the `preload` modules (what the same
  component imported in an earlier run) with its output already on the pipe, and waits.
  `{"id": M, "request": PATH, "standby": N}` hands it the request (it deletes the file
  after reading it); `{"discard": N}` kills it and its process group.
  A step's imports then overlap the steps before it instead of adding to the run's time.
- zygote -> orchestrator: `{"ready": true}` once the imports are done, `{"id": N, "pid": P}`
  when a child started (or a standby was forked or handed its request; `"gone": true` with
  an error when that standby no longer exists), `{"pid": P, "exit": CODE}` when a child ended
  (a negative code: the signal; `"standby": true` for a standby never handed a request).

Each child is in its own session (the orchestrator stops it with its process group) and dies
with the zygote (PR_SET_PDEATHSIG); the zygote dies with the orchestrator. It stays single
threaded (forking a process with threads is unsafe), and imports only modules that start no
thread: what it imports before forking is checked. A standby imports after the fork, in its
own process, so what it imports may start threads.
"""

from __future__ import annotations

import contextlib
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
    "vtp.aiplatform_types",  # then its types, without the API's service clients (0.4 s)
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


def _become_step(out_fd: int, closing: list, parent: int) -> frozenset[str]:
    """In a forked child: its own session, dying with the zygote, output on `out_fd`, no
    descriptor of the zygote's kept. Returns the modules the child started with."""
    baseline = frozenset(sys.modules)
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    for item in closing:
        item.close()
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
    return baseline


def _enter(request: dict) -> None:
    """The step's environment, working directory and `PYTHONPATH` entries."""
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    for entry in reversed([p for p in request["env"].get("PYTHONPATH", "").split(":") if p]):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def _run(request: dict, baseline: frozenset[str]) -> None:
    """Runs the component, records what it imported (`request["profile"]`), never returns."""
    code = 1
    try:
        from vtp.local.orchestrator import _component_main

        code = _component_main.run(list(request["argv"]))
        profile = request.get("profile")
        if profile and code == 0:
            imported = [m for m in list(sys.modules) if m not in baseline and _recordable(m)]
            with open(profile, "w", encoding="utf-8") as f:
                json.dump(imported, f)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _recordable(module: str) -> bool:
    return module != "__main__" and not module.startswith("ephemeral_component")


def _child(request: dict, out_fd: int, closing: list, parent: int) -> None:
    """In the forked child: become the component process, never return."""
    try:
        baseline = _become_step(out_fd, closing, parent)
        _enter(request)
    except BaseException:
        os._exit(1)
    _run(request, baseline)


def _standby(setup: dict, out_fd: int, channel: socket.socket, closing: list, parent: int):
    """In a forked child: enter the step's environment, set up logging as KFP's executor
    does first, import the `preload` modules, then wait for the request on `channel`; never
    returns."""
    try:
        baseline = _become_step(out_fd, closing, parent)
        _enter(setup)
        _kfp_logging()  # what the executor does before any import of the component
        for module in setup.get("preload", ()):
            with contextlib.suppress(Exception):  # what does not import is not preloaded
                __import__(module)
        data = channel.recv(65536)
        if not data:
            os._exit(0)  # the task did not run
        channel.close()
        path = json.loads(data)["request"]
        request = _read_json(path)
        with contextlib.suppress(OSError):
            os.unlink(path)  # it holds the step's environment
        if request["env"] != setup["env"] or request["cwd"] != setup["cwd"]:
            _enter(request)  # else as it is: what the imports set in the environment stays
    except BaseException:
        os._exit(1)
    _run(request, baseline)


def _kfp_logging() -> None:
    """KFP's executor configures logging (`basicConfig` on stdout) before it loads the
    component; a module imported ahead must find it so, as it would in the step."""
    setup = getattr(sys.modules.get("kfp.dsl.executor_main"), "_setup_logging", None)
    if setup is not None:
        setup()


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def serve(sock: socket.socket) -> None:
    import threading

    for module in PRELOAD:
        __import__(module)
    sys.modules["vtp.aiplatform_types"].aiplatform_types()
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
    #: Standby children by id: (pid, the zygote's end of the child's channel).
    standbys: dict[int, tuple[int, socket.socket]] = {}
    #: Standbys never handed a request: their exits are not a step's.
    idle: set[int] = set()
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
            answer = _handle(message, fds, sock, standbys, idle, parent)
            for fd in fds:
                os.close(fd)
            if answer is not None:
                _send(sock, answer)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            exit_message = {"pid": pid, "exit": os.waitstatus_to_exitcode(status)}
            if pid in idle:
                idle.discard(pid)
                exit_message["standby"] = True
            _send(sock, exit_message)


def _handle(message: dict, fds: list, sock: socket.socket, standbys: dict, idle: set, parent: int):
    """One message of the orchestrator; the answer to send (None: none)."""
    closing = [sock, *(channel for _, channel in standbys.values())]
    if "discard" in message:
        entry = standbys.pop(message["discard"], None)
        if entry is not None:
            with contextlib.suppress(OSError):
                os.killpg(entry[0], signal.SIGKILL)  # with what its imports started
            entry[1].close()
        return None
    if "prepare" in message:
        try:
            setup = _read_json(message["prepare"])
        except (OSError, ValueError) as err:
            return {"id": message["id"], "error": str(err)}
        if not fds:
            return {"id": message["id"], "error": "no output pipe was attached"}
        try:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            pid = os.fork()
        except OSError as err:
            return {"id": message["id"], "error": f"cannot fork a standby: {err}"}
        if pid == 0:
            _standby(setup, fds[0], theirs, [*closing, ours], parent)
        theirs.close()
        standbys[message["id"]] = (pid, ours)
        idle.add(pid)
        return {"id": message["id"], "pid": pid}
    if "standby" in message:
        entry = standbys.pop(message["standby"], None)
        if entry is None:
            return {"id": message["id"], "error": "no such standby", "gone": True}
        pid, channel = entry
        try:
            channel.send(json.dumps({"request": message["request"]}).encode())
        except OSError:
            return {"id": message["id"], "error": "the standby is gone", "gone": True}
        finally:
            channel.close()
        idle.discard(pid)
        return {"id": message["id"], "pid": pid}
    if not fds:
        return {"id": message["id"], "error": "no output pipe was attached"}
    try:
        request = _read_json(message["request"])
    except (OSError, ValueError) as err:
        return {"id": message["id"], "error": str(err)}
    try:
        pid = os.fork()
    except OSError as err:
        return {"id": message["id"], "error": f"cannot fork: {err}"}
    if pid == 0:
        _child(request, fds[0], closing, parent)
    return {"id": message["id"], "pid": pid}


def main() -> None:
    _prctl_death_signal()
    sock = socket.socket(fileno=int(sys.argv[1]))
    serve(sock)


if __name__ == "__main__":
    main()
