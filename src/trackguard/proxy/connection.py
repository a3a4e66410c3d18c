"""What every client connection shares: limits, stages, soft closes, and the `Context`.

The transports (`fastconn`, `streamconn`) get a `Context`, never the `ProxyServer`: the
limits, the planner, the pools, the set of live connections and the few questions about
addresses (is this client allowed, is this target the proxy itself). The server builds
one and owns its lifecycle. Nothing here decides about requests (`exchange` does) or
parses HTTP (`http1` does).
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from trackguard.proxy.exchange import Planner
from trackguard.proxy.http1 import Limits, plain_ip
from trackguard.proxy.pool import IdlePool, Stream, Upstream, stream_abort, stream_usable
from trackguard.proxy.resolve import UpstreamResolver, upstream_address

COPY_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Connection-level limits. Timeouts are in seconds."""

    http: Limits = field(default_factory=Limits)
    max_connections: int = 1024
    #: The first request head must arrive completely within this time (slowloris).
    head_timeout: float = 15.0
    #: Keep-alive idle time, and the longest silence while a body is moving.
    idle_timeout: float = 60.0
    connect_timeout: float = 10.0
    #: How long an upstream may take to start its response.
    response_timeout: float = 60.0
    #: Longest silence on a CONNECT tunnel or upgraded (WebSocket) connection.
    tunnel_idle_timeout: float = 600.0
    pool_per_host: int = 256
    pool_idle_timeout: float = 30.0
    #: How long shutdown waits for requests in flight.
    shutdown_grace: float = 5.0


class Stage(enum.Enum):
    HEAD = "head"  # waiting for a request head
    UPSTREAM = "upstream"  # connecting, or waiting for the response head
    BODY = "body"  # moving a body
    TUNNEL = "tunnel"


class ClientGone(Exception):
    """The client closed or reset its side; nothing more can be sent to it."""


class UpstreamGone(Exception):
    """The upstream closed early; the response cannot be completed."""


class LocalApp(Protocol):
    """Pages the proxy serves itself besides `/proxy.pac`: the dashboard (`trackguard.web`),
    built by the CLI and handed in, so the proxy never imports it."""

    def wants(self, path: str) -> bool: ...

    def listen_on(self, ports: Iterable[int]) -> None: ...  # the proxy's ports, once bound

    async def serve(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        send: Callable[[bytes], Awaitable[None]],
        *,
        keep: bool,
    ) -> bool: ...


class Connection(Protocol):
    """What the server's sweeper and shutdown need from a connection of either path."""

    deadline: float
    timed_out: bool

    def expire(self) -> None: ...  # the deadline passed
    def close_idle(self) -> None: ...  # shutdown: close now if no request is in flight
    def abort(self) -> None: ...


class WriteBatch:
    """The fast path's writes of one event-loop iteration, sent together at its end.

    A write to a loopback socket wakes the reader, and the kernel lets a woken task preempt
    the writer: measured, about 0.9 involuntary context switches per proxied request, each
    costing the switch and the caches. Writes queued here go out together once the
    iteration's callbacks have run (`call_soon` runs before the loop polls again), so a busy
    iteration pays for one or two switches instead of one per request: 20-30% more
    requests per second in benchmarks/proxy.py. Per transport the order is kept (one
    queue), and whatever closes, aborts or hands a transport to the stream code calls
    `flush` first. Writes to a transport closed meanwhile are dropped, as
    `transport.write` would after `connection_lost`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[tuple[asyncio.Transport, bytes]] = []

    def write(self, transport: asyncio.Transport, data: bytes) -> None:
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append((transport, data))

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        for transport, data in pending:
            if not transport.is_closing():
                try:
                    transport.write(data)
                except (RuntimeError, OSError):  # one broken transport must not stop the rest
                    transport.abort()


def networks(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


class Context:
    """The narrow view of the server that connections work with."""

    def __init__(
        self,
        planner: Planner,
        limits: ServerLimits,
        *,
        host: str,
        port: int,
        allow_from: Iterable[str],
        connect_to: Mapping[str, str] | None,
        pac_fallback_direct: bool,
    ) -> None:
        self.planner = planner
        self.limits = limits
        self.host = host
        self.port = port  # the listening port, once known
        #: Host name -> address to connect to instead of resolving it (like curl's
        #: --connect-to). Tests and benchmarks use it for `*.test` names on loopback.
        self.connect_to = {k.lower(): v for k, v in (connect_to or {}).items()}
        #: `--resolver`: resolve upstream hosts through that DNS server and uncloak them.
        self.resolver: UpstreamResolver | None = None
        self.pac_fallback_direct = pac_fallback_direct
        #: The dashboard, when the CLI gives one (`LocalApp`).
        self.local_app: LocalApp | None = None
        self.listen: list[tuple[str, int]] = []
        self.allow = networks(allow_from)
        self.conns: set[Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        self.requests = 0  # served requests, for status and tests
        self.tls = ssl.create_default_context()
        per_host, idle = limits.pool_per_host, limits.pool_idle_timeout
        self.pool: IdlePool[Stream] = IdlePool(per_host, idle, stream_usable, stream_abort)
        self.fast_pool: IdlePool[Upstream] = IdlePool(
            per_host, idle, Upstream.usable, Upstream.abort
        )
        self.batch: WriteBatch | None = None  # set by the server's start(): needs the loop

    async def upstream_address(self, host: str) -> str:
        """Where to connect for `host`; raises `resolve.Cloaked` or `socket.gaierror`."""
        return await upstream_address(host, self.resolver, self.connect_to)

    def spawn(self, coro: Coroutine[object, object, None]) -> None:
        """Run `coro` as a task the server waits for on shutdown."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def client_allowed(self, peer: object) -> bool:
        """The client's address is inside `allow_from` (anything not TCP/IP is refused)."""
        if not isinstance(peer, tuple) or not peer:
            return False
        try:
            ip = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.allow)

    def is_self(self, host: str, port: int) -> bool:
        """A request target naming the proxy itself (served locally, never relayed)."""
        if port != self.port:
            return False
        host = host.lower().strip("[]")
        if host in ("localhost", self.host.lower()):
            return True
        ip = plain_ip(host)  # `[::ffff:127.0.0.2]` reaches 127.0.0.2 (issue 9 defect 6)
        if ip is None:
            return False
        return ip.is_loopback or ip.is_unspecified or any(ip == plain_ip(a) for a, _ in self.listen)

    def is_loop(self, transport: asyncio.BaseTransport) -> bool:
        """An upstream connection that reached the proxy's own port (a relay loop)."""
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if not isinstance(peer, tuple) or peer[1] != self.port:
            return False
        ip = plain_ip(str(peer[0]))
        if ip is None:
            return False
        # Our own port on a loopback address or on one of this machine's addresses (the
        # connection's local address equals its peer address only when talking to itself).
        return ip.is_loopback or (isinstance(local, tuple) and plain_ip(str(local[0])) == ip)


def close_softly(writer: asyncio.StreamWriter, grace: float = 2.0) -> None:
    """Close after flushing, but abort if the peer will not read what is left."""
    transport = writer.transport
    if transport.is_closing():
        return
    writer.close()
    asyncio.get_running_loop().call_later(grace, transport.abort)


async def linger(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float = 1.0
) -> None:
    """Close without losing the last response.

    Closing a socket that still has unread input makes the kernel send a reset, which can
    destroy the error response we just wrote before the client reads it. So: send FIN,
    discard what the client still sends for a moment, then close.
    """
    transport = writer.transport
    if transport.is_closing():
        return
    try:
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(seconds):
            while await reader.read(COPY_SIZE):
                pass
    except (TimeoutError, ConnectionError, OSError, RuntimeError):
        pass
    finally:
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            writer.close()
