"""Serving the UI: a socket bound first (a busy port is a clear error, port 0 picks a free
one and the address printed is the real one), then uvicorn on it until Ctrl-C."""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys

from vtp.errors import SpecError, VtpError
from vtp.home import LocalHome

DEFAULT_PORT = 8765


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port`.

    Raises:
        SpecError: a port out of range, an address that is not this machine's or a busy port.
    """
    if not 0 <= port < 65536:
        raise SpecError("--port", port, "must be a TCP port, 0 (any free port) to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise SpecError(
                "--port", port, "is in use; choose another (--port 0: any free)"
            ) from None
        raise SpecError(
            "--host", host, f"must be an address of this machine ({err.strerror})"
        ) from None
    sock.listen(128)
    return sock


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(home: LocalHome, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> int:
    """Serves the UI of `home` until interrupted; the exit code."""
    import uvicorn

    from vtp.ui.app import LOOPBACK_HOSTS, create_app

    if not home.root.is_dir():
        raise VtpError(f"no vtp home at {home.root} (run a pipeline first, or --home DIR)")
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    allowed = None if is_loopback(host) else ["*"]
    if not is_loopback(host):
        print(
            f"vtp ui: warning: listening on {host}, reachable from other machines; the UI has "
            "no authentication",
            file=sys.stderr,
        )
    app = create_app(home, allowed_hosts=allowed or LOOPBACK_HOSTS)
    shown = f"[{host}]" if ":" in host else host
    print(f"vtp ui: {home.root} at http://{shown}:{actual}/ (read-only; Ctrl-C stops)", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
