"""Listening sockets and the batch acceptor, for one proxy process and for `workers`.

No requests here: an accepted socket goes to the `adopt` callback the server gives
(`fastconn.FastConn` serves it).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

logger = logging.getLogger("trackguard.proxy")


def listening_sockets(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Non-blocking listening sockets for `host` (every address it resolves to), as
    `loop.create_server` would open them."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[object, ...]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) not in seen:
                seen.add((family, address))
                sockets.append(open_listener(family, kind, proto, address, reuse_port=reuse_port))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def open_listener(
    family: int,
    kind: int,
    proto: int,
    address: tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes],
    *,
    reuse_port: bool,
) -> socket.socket:
    """One non-blocking listening socket bound to `address` (closed again on failure)."""
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class Acceptor:
    """Accepts connections in batches from listening sockets.

    libuv (under uvloop) accepts one connection per event-loop iteration. On a busy proxy
    one iteration serves hundreds of ready connections and takes tens of milliseconds, so
    a browser opening a burst of connections waited in the kernel's queue for a second or
    more (measured: 200 new connections took ~2 s to be accepted under load). Here each
    readiness callback accepts up to `BATCH` connections. When the process runs out of
    file descriptors, accepting pauses briefly instead of spinning on a socket that stays
    readable.
    """

    BATCH = 256
    PAUSE = 0.5

    def __init__(
        self, sockets: list[socket.socket], adopt: Callable[[socket.socket], None]
    ) -> None:
        self.sockets = sockets
        self.adopt = adopt
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed: asyncio.Future[None] | None = None
        self._open = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.closed = loop.create_future()
        self._open = True
        for sock in self.sockets:
            sock.setblocking(False)  # accept() below must never wait
            loop.add_reader(sock.fileno(), self._ready, sock)

    def _ready(self, sock: socket.socket) -> None:
        for _ in range(self.BATCH):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS...
                logger.warning("cannot accept connections: %s; pausing", exc.strerror or exc)
                self._pause(sock)
                return
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.adopt(conn)

    def _pause(self, sock: socket.socket) -> None:
        assert self.loop is not None
        self.loop.remove_reader(sock.fileno())
        self.loop.call_later(self.PAUSE, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        if self._open and self.loop is not None:
            self.loop.add_reader(sock.fileno(), self._ready, sock)

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        for sock in self.sockets:
            if self.loop is not None and sock.fileno() >= 0:
                self.loop.remove_reader(sock.fileno())
            sock.close()
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)
