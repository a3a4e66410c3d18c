"""Idle keep-alive upstream connections per (scheme, host, port), for both paths.

A connection is pooled only when its response ended cleanly and nothing is left unread
(leftover bytes would corrupt the next response); it is dropped when idle too long, when
its host has too many, or when the upstream closed it meanwhile. The fast path pools its
`Upstream` protocols, the stream path its (reader, writer) pairs. No policy here, and no
reads or writes beyond checking a connection is still usable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar, cast

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_Pooled = TypeVar("_Pooled")


class IdlePool(Generic[_Pooled]):
    """Idle connections per (scheme, host, port).

    `usable` says whether a pooled connection may carry another request; `abort` drops
    one. The stream path and the fast path differ only in those two.
    """

    def __init__(
        self,
        per_host: int,
        idle_timeout: float,
        usable: Callable[[_Pooled], bool],
        abort: Callable[[_Pooled], None],
    ) -> None:
        self._idle: dict[tuple[str, str, int], list[tuple[_Pooled, float]]] = {}
        self._per_host = per_host
        self._idle_timeout = idle_timeout
        self._usable = usable
        self._abort = abort

    def get(self, key: tuple[str, str, int]) -> _Pooled | None:
        entries = self._idle.get(key)
        while entries:
            conn, _ = entries.pop()
            if self._usable(conn):
                return conn
            self._abort(conn)
        return None

    def put(self, key: tuple[str, str, int], conn: _Pooled, now: float) -> None:
        entries = self._idle.setdefault(key, [])
        if len(entries) >= self._per_host or not self._usable(conn):
            self._abort(conn)
            return
        entries.append((conn, now))

    def sweep(self, now: float) -> None:
        for key in list(self._idle):
            keep = []
            for conn, since in self._idle[key]:
                if now - since > self._idle_timeout or not self._usable(conn):
                    self._abort(conn)
                else:
                    keep.append((conn, since))
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]

    def close(self) -> None:
        for entries in self._idle.values():
            for conn, _ in entries:
                self._abort(conn)
        self._idle.clear()


def stream_usable(stream: Stream) -> bool:
    # Leftover bytes would corrupt the next response: only clean streams are reused.
    reader, writer = stream
    return not writer.is_closing() and not reader.at_eof() and not getattr(reader, "_buffer", b"")


def stream_abort(stream: Stream) -> None:
    stream[1].transport.abort()


class UpstreamOwner(Protocol):
    """The fast-path connection an `Upstream` currently serves (`fastconn.FastConn`)."""

    def upstream_data(self, data: bytes) -> None: ...
    def upstream_lost(self, upstream: Upstream) -> None: ...


class Upstream(asyncio.Protocol):
    """A plain-HTTP upstream connection of the fast path; pooled between requests."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.owner: UpstreamOwner | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.owner is not None:
            self.owner.upstream_data(data)
        elif self.transport is not None:
            self.transport.abort()  # bytes on an idle connection: never reuse it

    def eof_received(self) -> bool:
        return False  # close; connection_lost tells the owner

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        owner, self.owner = self.owner, None
        if owner is not None:
            owner.upstream_lost(self)

    def usable(self) -> bool:
        return not self.closed

    def abort(self) -> None:
        self.owner = None
        if self.transport is not None:
            self.transport.abort()
