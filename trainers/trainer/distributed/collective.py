"""A small collective-communication layer over TCP: rendezvous, all-reduce, broadcast, gather,
barrier.

Star topology: every worker keeps one connection to the primary (rank 0). Each collective is
one round: every worker sends the primary a frame (its contribution, or nothing), the primary
combines them in rank order and sends every worker the answer. The primary also checks that
every rank called the same collective, in the same order, on arrays of the same shape and type.

No replica waits forever: every receive has a deadline (`CollectiveTimeout`), a closed
connection is reported at once (`PeerLost`), and the primary tells the surviving workers why
it aborts before closing their connections. All ranks get the same bytes back from an
all-reduce, so replicas that apply the same update keep bit-identical weights.

Frame: `VTPC`, header length (uint32), payload length (uint64), a JSON header, the payload
(an array's raw bytes; `dtype` and `shape` are in the header).
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import struct
import time
from collections.abc import Callable, Sequence

import numpy as np

from trainer.distributed.cluster import replica_name

PROTOCOL = 1
REDUCE_OPS = ("sum", "mean")
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_RENDEZVOUS_TIMEOUT_S = 600.0
_MAGIC = b"VTPC"
_PREFIX = struct.Struct("!4sIQ")
_HELLO_TIMEOUT_S = 10.0
_WORKER_EXTRA_WAIT_S = 10.0


class CollectiveError(Exception):
    """A collective that cannot complete: replicas disagree, or the group is broken."""


class PeerLost(CollectiveError):
    """A replica closed its connection (it exited or was killed)."""


class CollectiveTimeout(CollectiveError):
    """A replica sent nothing before the deadline."""


def who(rank: int) -> str:
    """`rank 2 (workerpool1-1)`; the primary is `the primary (rank 0, workerpool0-0)`."""
    if rank == 0:
        return f"the primary (rank 0, {replica_name(0)})"
    return f"rank {rank} ({replica_name(rank)})"


class Collective:
    """One process's handle on the group. Create it with `Collective.connect`.

    Every rank must call the same collectives in the same order.
    """

    def __init__(
        self,
        rank: int,
        world_size: int,
        links: dict[int, socket.socket],
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ):
        self.rank = rank
        self.world_size = world_size
        self.timeout_s = timeout_s
        self.calls = 0
        #: The ranks whose contributions the last collective combined (as the primary says).
        self.last_contributors: list[int] = [rank]
        self._links = links  # primary: {worker rank: socket}; worker: {0: socket}

    @classmethod
    def connect(
        cls,
        rank: int,
        world_size: int,
        host: str,
        port: int,
        *,
        bind_host: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        rendezvous_timeout_s: float = DEFAULT_RENDEZVOUS_TIMEOUT_S,
        log: Callable[[str], None] = lambda _: None,
    ) -> Collective:
        """Join the group: the primary listens at `host:port` until every worker has said hello.

        Args:
            rank: This process's rank, 0 for the primary.
            world_size: Ranks in the group; 1 needs no network.
            host: The primary's address (`MASTER_ADDR`).
            port: The primary's port (`MASTER_PORT`).
            bind_host: Where the primary listens (default: `host`; "" = every interface).
            timeout_s: Deadline of each collective.
            rendezvous_timeout_s: How long to wait for the whole group to join.
            log: Receives progress lines.

        Raises:
            ValueError: `rank` / `world_size` are out of range.
            CollectiveError: The group did not form before the deadline.
        """
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..{world_size - 1} (world_size), got {rank}")
        if world_size == 1:
            return cls(rank, 1, {}, timeout_s=timeout_s)
        deadline = time.monotonic() + rendezvous_timeout_s
        if rank == 0:
            listen = host if bind_host is None else bind_host
            links = _accept_workers(listen, port, world_size, deadline, log)
        else:
            links = {0: _join_primary(rank, world_size, host, port, deadline, log)}
        return cls(rank, world_size, links, timeout_s=timeout_s)

    def allreduce(self, array: np.ndarray, op: str = "sum") -> np.ndarray:
        """The element-wise sum (or mean) of `array` over every rank, on every rank."""
        if op not in REDUCE_OPS:
            raise ValueError(f"op must be one of {', '.join(REDUCE_OPS)}, got {op!r}")
        array = np.ascontiguousarray(array)

        def reduce(parts: list[np.ndarray]) -> np.ndarray:
            total = parts[0].astype(np.result_type(parts[0], np.float64), copy=True)
            for part in parts[1:]:
                total += part
            return total / len(parts) if op == "mean" else total

        return self._round(f"allreduce-{op}", array, reduce)

    def broadcast(self, array: np.ndarray | None, root: int = 0) -> np.ndarray:
        """`array` of rank `root`, on every rank (the others pass None or anything)."""
        self._check_root(root)
        mine = np.ascontiguousarray(array) if self.rank == root else None
        return self._round(f"broadcast-{root}", mine, lambda parts: parts[root], same=False)

    def gather(self, array: np.ndarray) -> list[np.ndarray] | None:
        """Every rank's `array`, in rank order, on the primary; None on the others."""
        gathered: list[np.ndarray] = []

        def keep(parts: list[np.ndarray]) -> None:
            gathered.extend(parts)

        self._round("gather", np.ascontiguousarray(array), keep, same=False)
        return gathered if self.rank == 0 else None

    def barrier(self) -> None:
        """Returns once every rank has called `barrier`."""
        self._round("barrier", None, lambda parts: None, same=False)

    def close(self) -> None:
        for link in self._links.values():
            _close(link)
        self._links = {}

    def __enter__(self) -> Collective:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one round: contributions to the primary, the answer back -------------------------

    def _round(
        self,
        op: str,
        array: np.ndarray | None,
        combine: Callable[[list], np.ndarray | None],
        *,
        same: bool = True,
    ) -> np.ndarray | None:
        self.calls += 1
        if self.world_size == 1:
            self.last_contributors = [0]
            result = combine([array])
            return None if result is None else np.array(result, copy=True)
        label = _label(op, self.calls)
        try:
            if self.rank == 0:
                return self._lead(op, label, array, combine, same)
            return self._follow(op, label, array)
        except CollectiveError as err:
            if self.rank == 0:  # tell the workers still there why, then hang up on everyone
                self._tell_workers(str(err))
            self.close()
            raise

    def _lead(self, op, label, array, combine, same) -> np.ndarray | None:
        parts: list[np.ndarray | None] = [array] + [None] * (self.world_size - 1)
        deadline = time.monotonic() + self.timeout_s
        for rank, header, payload in _collect(self._links, deadline, label):
            if header.get("op") != op or header.get("seq") != self.calls:
                raise CollectiveError(
                    f"{who(rank)} called {_label(header.get('op'), header.get('seq'))} while the "
                    f"primary called {label}: every rank must call the same collectives in the "
                    "same order"
                )
            parts[rank] = _decode(header, payload)
        if same and array is not None:
            for rank, part in enumerate(parts[1:], start=1):
                if part is None or part.shape != array.shape or part.dtype != array.dtype:
                    got = "nothing" if part is None else f"{part.dtype}{list(part.shape)}"
                    raise CollectiveError(
                        f"{label}: {who(rank)} sent {got}, the primary "
                        f"{array.dtype}{list(array.shape)}: shapes and dtypes must match"
                    )
        self.last_contributors = list(range(self.world_size))
        result = combine(parts)
        header, payload = _encode(result)
        reply = {"op": op, "seq": self.calls, "contributors": self.last_contributors, **header}
        for rank, link in sorted(self._links.items()):
            _send(link, reply, payload, rank)
        return None if result is None else np.array(result, copy=True)

    def _follow(self, op, label, array) -> np.ndarray | None:
        link = self._links[0]
        header, payload = _encode(array)
        _send(link, {"op": op, "seq": self.calls, "rank": self.rank, **header}, payload, 0)
        # A worker waits a little longer than the primary, which knows who is missing and
        # says so in its abort message.
        patience = self.timeout_s + min(self.timeout_s, _WORKER_EXTRA_WAIT_S)
        reply, payload = _recv(link, time.monotonic() + patience, 0, label)
        if reply.get("op") == "abort":
            raise CollectiveError(f"the primary aborted: {reply.get('error')}")
        if reply.get("op") != op or reply.get("seq") != self.calls:
            raise CollectiveError(
                f"{label}: the primary answered {_label(reply.get('op'), reply.get('seq'))}"
            )
        self.last_contributors = list(reply.get("contributors", []))
        return _decode(reply, payload)

    def _tell_workers(self, error: str) -> None:
        for rank, link in self._links.items():
            with contextlib.suppress(CollectiveError):  # that one may be gone already
                _send(link, {"op": "abort", "error": error}, b"", rank)

    def _check_root(self, root: int) -> None:
        if not 0 <= root < self.world_size:
            raise ValueError(f"root must be a rank in 0..{self.world_size - 1}, got {root}")


# -- rendezvous ----------------------------------------------------------------------------


def _accept_workers(
    host: str, port: int, world_size: int, deadline: float, log: Callable[[str], None]
) -> dict[int, socket.socket]:
    """Listen until ranks 1..world_size-1 have each connected and said hello."""
    try:
        server = socket.create_server((host, port))
    except OSError as err:
        raise CollectiveError(f"the primary cannot listen on {host or '*'}:{port}: {err}") from err
    links: dict[int, socket.socket] = {}
    log(f"rendezvous: waiting for {world_size - 1} worker(s) on {host or '*'}:{port}")
    try:
        with server:
            while len(links) < world_size - 1:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = [who(r) for r in range(1, world_size) if r not in links]
                    raise CollectiveTimeout(
                        f"rendezvous: {', '.join(missing)} did not join the primary at "
                        f"{host or '*'}:{port} in time"
                    )
                server.settimeout(remaining)
                try:
                    conn, peer = server.accept()
                except TimeoutError:
                    continue
                _tune(conn)
                rank = _hello(conn, world_size, links, min(deadline, _soon()), log, peer)
                if rank is not None:
                    links[rank] = conn
                    log(f"rendezvous: {who(rank)} joined from {peer[0]}:{peer[1]}")
            for rank, conn in links.items():
                _send(conn, {"op": "welcome", "world_size": world_size}, b"", rank)
    except BaseException:
        for conn in links.values():
            _close(conn)
        raise
    log(f"rendezvous: all {world_size} ranks joined")
    return links


def _hello(conn, world_size, links, deadline, log, peer) -> int | None:
    """The rank a new connection claims; None (and closed) when it does not speak our protocol."""
    try:
        header, _ = _recv(conn, deadline, None, "rendezvous")
    except CollectiveError as err:
        log(f"rendezvous: ignoring a connection from {peer[0]}:{peer[1]}: {err}")
        _close(conn)
        return None
    rank, world = header.get("rank"), header.get("world_size")
    problem = ""
    if header.get("op") != "hello" or header.get("protocol") != PROTOCOL:
        problem = f"expected hello with protocol {PROTOCOL}, got {header!r}"
    elif world != world_size:
        problem = f"rank {rank} says the group has {world} ranks, the primary {world_size}"
    elif not isinstance(rank, int) or not 1 <= rank < world_size:
        problem = f"a worker claims rank {rank!r}, not in 1..{world_size - 1}"
    elif rank in links:
        problem = f"two replicas claim rank {rank} ({replica_name(rank)})"
    if problem:
        _close(conn)
        raise CollectiveError(f"rendezvous: {problem}")
    return rank


def _join_primary(
    rank: int, world_size: int, host: str, port: int, deadline: float, log: Callable[[str], None]
) -> socket.socket:
    """Connect to the primary (retrying until it listens), say hello, wait for the welcome."""
    pause, last_error = 0.05, None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CollectiveTimeout(
                f"rendezvous: rank {rank} cannot reach the primary at {host}:{port} in time "
                f"(last error: {last_error})"
            )
        try:
            conn = socket.create_connection((host, port), timeout=min(remaining, 5.0))
            break
        except OSError as err:  # not listening yet: the primary may start later
            last_error = err
            time.sleep(min(pause, max(remaining, 0)))
            pause = min(pause * 2, 1.0)
    _tune(conn)
    log(f"rendezvous: rank {rank} connected to the primary at {host}:{port}")
    hello = {"op": "hello", "protocol": PROTOCOL, "rank": rank, "world_size": world_size}
    try:
        _send(conn, hello, b"", 0)
        header, _ = _recv(conn, deadline, 0, "rendezvous")
    except BaseException:
        _close(conn)
        raise
    if header.get("op") != "welcome":
        _close(conn)
        raise CollectiveError(f"rendezvous: the primary answered {header!r}")
    return conn


# -- frames --------------------------------------------------------------------------------


def _encode(array: np.ndarray | None) -> tuple[dict, bytes]:
    if array is None:
        return {}, b""
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise TypeError(f"collectives carry numeric arrays, got dtype {array.dtype}")
    return {"dtype": array.dtype.str, "shape": list(array.shape)}, array.tobytes()


def _decode(header: dict, payload: bytes) -> np.ndarray | None:
    if "dtype" not in header:
        return None
    array = np.frombuffer(payload, dtype=np.dtype(header["dtype"]))
    return array.reshape(header["shape"]).copy()


def _send(link: socket.socket, header: dict, payload: bytes, rank: int) -> None:
    body = json.dumps(header).encode()
    try:
        link.sendall(_PREFIX.pack(_MAGIC, len(body), len(payload)) + body + payload)
    except OSError as err:
        raise PeerLost(f"{who(rank)} is gone: sending failed ({err})") from err


def _recv(link: socket.socket, deadline: float, rank: int | None, label: str) -> tuple[dict, bytes]:
    """One frame from `rank` (None: not known yet) before `deadline`."""
    prefix = _recv_exact(link, _PREFIX.size, deadline, rank, label)
    magic, header_len, payload_len = _PREFIX.unpack(prefix)
    if magic != _MAGIC:
        raise CollectiveError(f"{label}: {_peer(rank)} does not speak this protocol")
    try:
        header = json.loads(_recv_exact(link, header_len, deadline, rank, label))
    except ValueError:  # not JSON, or not UTF-8
        header = None
    if not isinstance(header, dict):
        raise CollectiveError(f"{label}: {_peer(rank)} sent a frame without a JSON object header")
    return header, _recv_exact(link, payload_len, deadline, rank, label)


def _recv_exact(
    link: socket.socket, size: int, deadline: float, rank: int | None, label: str
) -> bytes:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CollectiveTimeout(f"{label}: nothing from {_peer(rank)} in time")
        link.settimeout(remaining)
        try:
            count = link.recv_into(view[got:])
        except TimeoutError:
            continue
        except OSError as err:
            raise PeerLost(f"{label}: the connection to {_peer(rank)} broke ({err})") from err
        if count == 0:
            raise PeerLost(
                f"{label}: {_peer(rank)} closed its connection (the replica exited or was killed)"
            )
        got += count
    return bytes(buffer)


def _collect(
    links: dict[int, socket.socket], deadline: float, label: str
) -> Sequence[tuple[int, dict, bytes]]:
    """One frame from every link, as they arrive; a closed link is reported at once."""
    received = []
    with selectors.DefaultSelector() as selector:
        for rank, link in links.items():
            selector.register(link, selectors.EVENT_READ, rank)
        pending = set(links)
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                late = ", ".join(who(r) for r in sorted(pending))
                raise CollectiveTimeout(f"{label}: no contribution from {late} in time")
            for key, _ in selector.select(remaining):
                rank = key.data
                header, payload = _recv(links[rank], deadline, rank, label)
                received.append((rank, header, payload))
                selector.unregister(key.fileobj)
                pending.discard(rank)
    return received


def _label(op: object, seq: object) -> str:
    """`allreduce-sum (collective #9)`: the operation and its place in the rank's sequence."""
    return f"{op} (collective #{seq})"


def _peer(rank: int | None) -> str:
    return "a new connection" if rank is None else who(rank)


def _tune(link: socket.socket) -> None:
    link.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames, no Nagle wait


def _soon() -> float:
    return time.monotonic() + _HELLO_TIMEOUT_S


def _close(link: socket.socket) -> None:
    with contextlib.suppress(OSError):
        link.close()
