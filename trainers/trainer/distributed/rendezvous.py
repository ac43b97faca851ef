"""How the workers learn the port of XGBoost's tracker: the primary tells them on its own
address (`MASTER_ADDR:MASTER_PORT`, `workerpool0` in `CLUSTER_SPEC`).

XGBoost 2.1 (the version of Vertex's prebuilt XGBoost serving image, so the one this trainer
pins) binds its tracker to a port of its own choosing: its `port` argument is not applied. So
the primary listens on the one port every replica knows and answers each connection with the
tracker's port, one line, until every worker has asked; a worker retries until the primary is
up, within `--rendezvous-timeout`. Nothing else travels here: training traffic is XGBoost's.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from trainer import TrainerError

POLL_S = 0.05


class Publisher:
    """A thread answering `count` connections on `(host, port)` with `value`, then closing."""

    def __init__(self, server: socket.socket, value: int, count: int):
        self._server = server
        self._value = value
        self._left = count
        self._thread = threading.Thread(target=self._serve, name="vtp-rendezvous", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with self._server:
            while self._left > 0:
                try:
                    conn, _ = self._server.accept()
                except OSError:  # closed
                    return
                with conn, contextlib.suppress(OSError):
                    conn.sendall(f"{self._value}\n".encode())
                    self._left -= 1

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.close()
        self._thread.join(timeout=5)


def publish_port(bind_host: str, port: int, value: int, count: int) -> Publisher:
    """Start answering `count` workers on `port` with `value` (`bind_host` "" = every
    interface)."""
    try:
        server = socket.create_server((bind_host, port), reuse_port=False)
    except OSError as err:
        raise TrainerError(f"cannot listen on the primary's port {port}: {err}") from None
    return Publisher(server, value, count)


def fetch_port(host: str, port: int, timeout_s: float) -> int:
    """The port the primary publishes on `(host, port)`, retrying until it is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=5) as conn:
                line = conn.makefile().readline().strip()
            return int(line)
        except (OSError, ValueError) as err:
            if time.monotonic() > deadline:
                raise TrainerError(
                    f"the primary at {host}:{port} did not tell the tracker's port within "
                    f"{timeout_s:g}s (--rendezvous-timeout): {err}"
                ) from None
            time.sleep(POLL_S)
