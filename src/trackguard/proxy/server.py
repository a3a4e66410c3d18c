"""The protection proxy's composition root: listeners, sweeper, task set, graceful close.

`ProxyServer` wires the pieces and owns their lifecycle; it knows no HTTP. A request goes
listener (`listen.Acceptor`) -> `fastconn.FastConn`, which hands anything unusual to
`streamconn.StreamConn`; both ask `exchange.Planner` what to do and keep idle upstreams in
`pool`. They see the server only through `connection.Context`.

Safety (issue 4): binds to loopback unless told otherwise and serves only clients inside
`allow_from`; caps head size, line length and header count (`http1.Limits`); caps
concurrent connections; every wait has a deadline enforced by one sweeper task here
(cheaper than a timer per read, and it cannot be forgotten on a code path): a slow or
silent client loses its connection, never anyone else's. Upstream failures become 502 or
504 with a one-line reason. It never relays to itself: a request whose target is the
proxy's own address is served locally (PAC) or refused with 508.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable, Mapping

from trackguard.proxy.connection import Context, LocalApp, ServerLimits, WriteBatch
from trackguard.proxy.exchange import Planner, ProxyState
from trackguard.proxy.fastconn import FastConn
from trackguard.proxy.listen import Acceptor, listening_sockets
from trackguard.proxy.log import DecisionLog
from trackguard.proxy.resolve import UpstreamResolver
from trackguard.proxy.streamconn import accept

__all__ = ["ProxyServer", "ProxyState", "ServerLimits"]


class ProxyServer:
    """The listening proxy. `start()`, then `serve_forever()` or `close()`."""

    def __init__(
        self,
        state: ProxyState,
        *,
        host: str = "127.0.0.1",
        port: int = 8118,
        allow_from: Iterable[str] = ("127.0.0.0/8", "::1/128"),
        limits: ServerLimits | None = None,
        log: DecisionLog | None = None,
        pac_fallback_direct: bool = False,
        connect_to: Mapping[str, str] | None = None,
        resolver: tuple[str, int] | None = None,
        local_app: LocalApp | None = None,
        fast_path: bool = True,
        reuse_port: bool = False,
        sock: socket.socket | None = None,
    ) -> None:
        self.planner = Planner(state, log)
        self.limits = limits or ServerLimits()
        self.ctx = Context(
            self.planner,
            self.limits,
            host=host,
            port=port,
            allow_from=allow_from,
            connect_to=connect_to,
            pac_fallback_direct=pac_fallback_direct,
        )
        self.ctx.local_app = local_app
        if resolver is not None:
            self.ctx.resolver = UpstreamResolver(resolver, state)
        self.host = host
        self.fast_path = fast_path
        self.reuse_port = reuse_port
        #: A listening socket to serve (a worker's, see `workers`) instead of host/port.
        self.sock = sock
        self._server: asyncio.Server | None = None  # the stream-only listener
        self._acceptor: Acceptor | None = None  # the fast path's listener
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def state(self) -> ProxyState:
        return self.planner.state

    @property
    def log(self) -> DecisionLog | None:
        return self.planner.log

    @property
    def port(self) -> int:
        """The listening port (the one the OS picked, after `start()` with port 0)."""
        return self.ctx.port

    @property
    def requests(self) -> int:
        """Requests served so far, for status and tests."""
        return self.ctx.requests

    @property
    def connections(self) -> int:
        return len(self.ctx.conns)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ctx = self.ctx
        ctx.batch = WriteBatch(loop)
        if self.sock is None and not self.fast_path:
            self._server = await asyncio.start_server(
                lambda reader, writer: accept(ctx, reader, writer),
                self.host,
                ctx.port,
                limit=self.limits.http.max_head,
                reuse_address=True,
                reuse_port=self.reuse_port or None,
                backlog=1024,
            )
            sockets = list(self._server.sockets)
        else:
            sockets = (
                [self.sock]
                if self.sock is not None
                else listening_sockets(self.host, ctx.port, reuse_port=self.reuse_port)
            )
            self._acceptor = Acceptor(sockets, self._adopt)
            self._acceptor.start(loop)
        ctx.listen = [s.getsockname()[:2] for s in sockets]
        ctx.port = ctx.listen[0][1]
        if ctx.local_app is not None:
            ctx.local_app.listen_on(sorted({port for _, port in ctx.listen}))
        self._sweeper = asyncio.create_task(self._sweep())

    def _adopt(self, conn: socket.socket) -> None:
        """A connection `Acceptor` took: serve it with the fast path's protocol."""
        self.ctx.spawn(self._adopt_later(conn))

    async def _adopt_later(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: FastConn(self.ctx), conn)
        except OSError:
            conn.close()

    async def serve_forever(self) -> None:
        if self._server is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._server.serve_forever()
            return
        assert self._acceptor is not None and self._acceptor.closed is not None
        with contextlib.suppress(asyncio.CancelledError):
            await self._acceptor.closed

    async def close(self) -> None:
        """Graceful shutdown: stop accepting, finish requests in flight, then cut the rest."""
        ctx = self.ctx
        ctx.closing = True
        if self._server is not None:
            self._server.close()
        if self._acceptor is not None:
            self._acceptor.close()
        for conn in list(ctx.conns):
            conn.close_idle()
        loop = asyncio.get_running_loop()
        end = loop.time() + self.limits.shutdown_grace
        while ctx.conns and loop.time() < end:
            await asyncio.sleep(0.05)
        for conn in list(ctx.conns):
            conn.abort()
        if ctx.tasks:
            await asyncio.wait(list(ctx.tasks), timeout=2)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        ctx.pool.close()
        ctx.fast_pool.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _sweep(self) -> None:
        """Enforce every connection's deadline (one task instead of a timer per read)."""
        loop = asyncio.get_running_loop()
        ctx = self.ctx
        while True:
            await asyncio.sleep(0.25)
            now = loop.time()
            for conn in list(ctx.conns):
                if conn.deadline < now and not conn.timed_out:
                    conn.expire()
            ctx.pool.sweep(now)
            ctx.fast_pool.sweep(now)
