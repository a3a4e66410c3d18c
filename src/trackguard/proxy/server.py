"""The asyncio HTTP/1.1 forward proxy: the thin layer that moves bytes.

Everything this module decides is about transport: framing, keep-alive, timeouts, limits,
upstream connections. What to do with a request (block, allow, which headers to add, who
the first party is) comes from `policy.decide` / `decide_tunnel` and `signals`; what a
blocked answer looks like comes from `responses`. The module never reads lists.

Safety (issue 4): binds to loopback unless told otherwise and serves only clients inside
`allow_from`; caps head size, line length and header count (`http1.Limits`); caps
concurrent connections; every wait has a deadline enforced by one sweeper task (cheaper
than a timer per read, and it cannot be forgotten on a code path): a slow or silent client
loses its connection, never anyone else's. Upstream failures become 502 (unreachable,
refused, bad response) or 504 (timed out) with a one-line reason. It never relays to
itself: a request whose target is the proxy's own address is served locally (PAC) or
refused with 508.

Two ways to serve a connection (docs/proxy.md, "How a request is served"): the fast path
(`_FastConn`, an `asyncio.Protocol`) for keep-alive GET/HEAD with length-delimited
responses, and the stream code (`_serve`, StreamReader/Writer coroutines) for everything
else, to which the fast path hands a connection over mid-way. Both decide and rewrite a
request through the same `ProxyServer._plan`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from trackguard.model import RequestType, SourceRef
from trackguard.policy.attribution import NavigationRecord
from trackguard.policy.decide import (
    Layer,
    Matcher,
    MemoMatcher,
    PolicyConfig,
    Verdict,
    decide,
    decide_tunnel,
    strip_params,
)
from trackguard.policy.signals import apply_signals
from trackguard.proxy.fastpath import FastRequest, header_map, parse_simple_request, plain_response
from trackguard.proxy.http1 import (
    HOP_BY_HOP,
    Framing,
    Header,
    HttpError,
    Limits,
    RequestHead,
    ResponseHead,
    Target,
    keep_alive,
    parse_absolute_target,
    parse_chunk_size,
    parse_request_head,
    parse_response_head,
    plain_ip,
    request_framing,
    response_framing,
    serialize_head,
    split_host_port,
    strip_hop_by_hop,
)
from trackguard.proxy.log import DecisionLog, strip_query
from trackguard.proxy.pac import PAC_CONTENT_TYPE, PAC_PATH, build_pac
from trackguard.proxy.responses import (
    CONTINUE,
    TUNNEL_ESTABLISHED,
    blocked_response,
    build_response,
    describe_rule,
    error_response,
    tunnel_refused,
)

logger = logging.getLogger("trackguard.proxy")

_COPY_SIZE = 64 * 1024


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


class ProxyState:
    """What the server reads for each request; replaced wholesale, never mutated in place.

    Assigning `matcher` or `config` is atomic for the event loop: a request in flight keeps
    the objects it already read, the next request sees the new ones (issue 4: "the swap is
    atomic").
    """

    def __init__(
        self, matcher: Matcher, config: PolicyConfig, record: NavigationRecord | None = None
    ) -> None:
        self.matcher = matcher
        self.config = config
        self.record = record if record is not None else NavigationRecord()

    @property
    def matcher(self) -> Matcher:
        """The engine as given (tests and the service compare identities)."""
        return self._matcher

    @matcher.setter
    def matcher(self, matcher: Matcher) -> None:
        # The memo and its engine are replaced together, in one assignment: a request
        # reads `memo` once, so it never mixes answers of two engines.
        self._matcher = matcher
        self.memo = MemoMatcher(matcher)


class _Stage(enum.Enum):
    HEAD = "head"  # waiting for a request head
    UPSTREAM = "upstream"  # connecting, or waiting for the response head
    BODY = "body"  # moving a body
    TUNNEL = "tunnel"


class _ClientGone(Exception):
    """The client closed or reset its side; nothing more can be sent to it."""


class _UpstreamGone(Exception):
    """The upstream closed early; the response cannot be completed."""


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_Pooled = TypeVar("_Pooled")


class _Conn:
    """One client connection and, while a request is in flight, its upstream."""

    __slots__ = ("deadline", "first", "reader", "stage", "timed_out", "upstream", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.deadline = 0.0
        self.stage = _Stage.HEAD
        self.first = True
        self.timed_out = False
        self.upstream: asyncio.StreamWriter | None = None

    def expire(self) -> None:
        """Called by the sweeper when the deadline passed."""
        self.timed_out = True
        if self.stage is _Stage.HEAD:
            if self.first:
                with contextlib.suppress(Exception):
                    self.writer.write(error_response(408, "request head not received in time"))
            _close_softly(self.writer)
        elif self.stage is _Stage.UPSTREAM and self.upstream is not None:
            # The handler sees the upstream die and answers 504 itself.
            self.upstream.transport.abort()
        else:
            self.abort()

    def close_idle(self) -> None:
        """Shutdown: close now if no request is in flight."""
        if self.stage is _Stage.HEAD:
            _close_softly(self.writer, 0.5)

    def abort(self) -> None:
        self.writer.transport.abort()
        if self.upstream is not None:
            self.upstream.transport.abort()


def _close_softly(writer: asyncio.StreamWriter, grace: float = 2.0) -> None:
    """Close after flushing, but abort if the peer will not read what is left."""
    transport = writer.transport
    if transport.is_closing():
        return
    writer.close()
    asyncio.get_running_loop().call_later(grace, transport.abort)


async def _linger(
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
            while await reader.read(_COPY_SIZE):
                pass
    except (TimeoutError, ConnectionError, OSError, RuntimeError):
        pass
    finally:
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            writer.close()


def _networks(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


_TYPE_NAMES = {t: (t.name or "other").lower() for t in RequestType}


def _type_name(rtype: RequestType) -> str:
    return _TYPE_NAMES.get(rtype) or (rtype.name or "other").lower()


#: Request fields never forwarded as they are: hop-by-hop ones, and the ones the proxy
#: writes itself (`Host` from the target, `Expect` answered here).
_FORWARD_DROP = HOP_BY_HOP | {"host", "expect"}
#: The drop sets for the `Connection` tokens clients commonly send (no set union per
#: request); other token sets are built when they occur.
_DROP_FOR_TOKENS = {
    tokens: _FORWARD_DROP | tokens
    for tokens in (
        frozenset(),
        frozenset({"keep-alive"}),
        frozenset({"close"}),
        frozenset({"upgrade"}),
        frozenset({"keep-alive", "upgrade"}),
    )
}


class _Plan:
    """A decided plain-HTTP request: either a local answer or the head to send upstream."""

    __slots__ = (
        "client_keep",
        "close",
        "expect",
        "is_upgrade",
        "key",
        "request",
        "response",
        "url",
        "verdict",
    )

    def __init__(
        self,
        verdict: Verdict,
        url: str,
        client_keep: bool,
        *,
        response: bytes | None = None,
        close: bool = False,
        request: bytes = b"",
        is_upgrade: bool = False,
        expect: bool = False,
        key: tuple[str, str, int] = ("", "", 0),
    ) -> None:
        self.verdict = verdict
        self.url = url
        self.client_keep = client_keep
        self.response = response  # blocked: the local answer
        self.close = close
        self.request = request  # allowed: the head to send upstream
        self.is_upgrade = is_upgrade
        self.expect = expect
        self.key = key


# -- the fast path -------------------------------------------------------------------------
#
# Most proxied traffic is keep-alive GETs with small, length-delimited responses. Serving
# those through StreamReader/StreamWriter coroutines costs several times the Python work
# of the request itself, so the listener speaks `asyncio.Protocol` directly: one callback
# per read, the head parsed once from the buffer, one write per response. Anything else
# (CONNECT, request bodies, Expect, upgrades, requests for the proxy itself, HTTPS
# upstreams, chunked or close-delimited or interim responses, malformed input) is handed
# to the stream code above, unchanged: the transport is re-attached to a StreamReader fed
# with the bytes already read, and `_run` carries on, if need be from the middle of the
# request (`_relay_response`). So every unusual case keeps the tested stream behaviour,
# and the fast path only ever sees the simple one.


def _streams_for(
    transport: asyncio.Transport, data: bytes, eof: bool, limit: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Re-attach a transport to a new StreamReader/Writer pair, with `data` already read."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if data:
        reader.feed_data(data)
    if eof:
        reader.feed_eof()
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


class _Upstream(asyncio.Protocol):
    """A plain-HTTP upstream connection of the fast path; pooled between requests."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.owner: _FastConn | None = None
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

    def abort(self) -> None:
        self.owner = None
        if self.transport is not None:
            self.transport.abort()


class _IdlePool(Generic[_Pooled]):
    """Idle keep-alive upstream connections per (scheme, host, port), of either path.

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


def _stream_usable(stream: Stream) -> bool:
    # Leftover bytes would corrupt the next response: only clean streams are reused.
    reader, writer = stream
    return not writer.is_closing() and not reader.at_eof() and not getattr(reader, "_buffer", b"")


def _stream_abort(stream: Stream) -> None:
    stream[1].transport.abort()


class _WriteBatch:
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


class _FastConn(asyncio.Protocol):
    """One client connection served by callbacks; see the comment above `_streams_for`.

    Stages as in `_Conn`: HEAD (reading a request head), UPSTREAM (connecting, or waiting
    for the response head), BODY (relaying a length-delimited body). The sweeper's
    deadlines and `expire` work as for stream connections.
    """

    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        # One lookup per connection: get_running_loop() costs a getpid() system call.
        self.loop = asyncio.get_running_loop()
        assert server._batch is not None, "connections arrive after start()"
        self.batch = server._batch
        self.transport: asyncio.Transport | None = None
        # Unparsed bytes from the client and from the upstream. Plain `bytes`: in the common
        # case one read holds one whole head, which is then used without a copy.
        self.buf = b""
        self.ubuf = b""
        self.stage = _Stage.HEAD
        self.first = True
        self.deadline = 0.0
        self.timed_out = False
        self.handed = False  # the stream code owns the transport now
        self.closed = False
        self.eof = False
        self.paused = False  # the client's side of the socket is full
        self.reading_paused = False
        self.upstream: _Upstream | None = None
        self.pooled = False  # the upstream in use came from the pool (retry once)
        self.request: FastRequest | None = None
        self.plan: _Plan | None = None
        self.host = ""
        self.remaining = 0
        self.keep = False
        self.upstream_keep = False

    # -- client callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        server = self.server
        if (
            not server._client_allowed(transport.get_extra_info("peername"))
            or len(server._conns) >= server.limits.max_connections
            or server._closing
        ):
            # Refusals (403/503) are rare: the stream code answers them.
            reader, writer = self._to_streams()
            server._spawn(server._accept(reader, writer))
            return
        server._conns.add(self)
        self.deadline = self.loop.time() + server.limits.head_timeout

    def data_received(self, data: bytes) -> None:
        self.buf = self.buf + data if self.buf else data
        if self.stage is _Stage.HEAD:
            self._process()
        elif len(self.buf) > self.server.limits.http.max_head and not self.reading_paused:
            assert self.transport is not None
            self.transport.pause_reading()  # pipelined requests wait their turn
            self.reading_paused = True

    def eof_received(self) -> bool:
        self.eof = True
        if self.stage is _Stage.HEAD and not self.handed:
            if self.buf.strip():
                self._hand_head()  # the stream code answers 400 (incomplete head)
                return True
            return False
        return True  # finish the response in flight, then close

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server._conns.discard(self)
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abort()

    def pause_writing(self) -> None:
        self.paused = True
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.resume_reading()
        if self.stage is _Stage.HEAD and self.buf and not self.handed:
            self._process()

    # -- sweeper and shutdown ----------------------------------------------------------

    def expire(self) -> None:
        self.timed_out = True
        self.batch.flush()
        transport = self.transport
        assert transport is not None
        if self.stage is _Stage.HEAD:
            if self.first:
                transport.write(error_response(408, "request head not received in time"))
            self._close_softly(2.0)
        elif self.stage is _Stage.UPSTREAM:
            upstream = self.upstream
            if upstream is not None:
                upstream.abort()
                self.upstream_lost(upstream)  # answers 504
        else:
            self.abort()

    def close_idle(self) -> None:
        if self.stage is _Stage.HEAD:
            self._close_softly(0.5)

    def abort(self) -> None:
        self.batch.flush()
        if self.transport is not None:
            self.transport.abort()
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abort()

    def _close_softly(self, grace: float) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.batch.flush()
        transport.close()
        self.loop.call_later(grace, transport.abort)

    # -- requests ----------------------------------------------------------------------

    def _process(self) -> None:
        """Serve the complete request heads in the buffer, one at a time."""
        server = self.server
        limits = server.limits
        while self.stage is _Stage.HEAD and not self.handed and not self.paused:
            buf = self.buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > limits.http.max_head or (self.eof and buf.strip()):
                    self._hand_head()
                elif self.eof:
                    self._close_softly(1.0)
                return
            head_end = end + 4
            data = buf[:head_end]  # the same object when the read was exactly one head
            simple = parse_simple_request(data, limits.http)
            if simple is None or server._is_self(simple.host, simple.port):
                # Bodies, upgrades, other schemes, malformed heads...: the stream code.
                self._hand_head()
                return
            self.buf = buf[head_end:]
            self.first = False
            server.requests += 1
            self.deadline = self.loop.time() + limits.idle_timeout
            plan = server._plan_parts(
                simple.method,
                simple.version,
                simple.headers,
                simple.lower,
                simple.tokens,
                simple.url,
                simple.authority,
                simple.path,
                ("http", simple.host.lower(), simple.port),
                Framing.NONE,
            )
            assert self.transport is not None
            if plan.response is not None:
                self.batch.write(self.transport, plan.response)
                if plan.close:
                    self._hand_close()
                    return
                continue
            self.request, self.plan, self.host = simple, plan, simple.host
            self._send_upstream(0)

    def _send_upstream(self, attempt: int) -> None:
        plan = self.plan
        assert plan is not None
        self.stage = _Stage.UPSTREAM
        self.ubuf = b""
        upstream = self.server._fast_pool.get(plan.key) if attempt == 0 else None
        loop = self.loop
        if upstream is None:
            self.pooled = False
            self.deadline = loop.time() + self.server.limits.connect_timeout + 1
            self.server._spawn(self._connect(plan))
            return
        self.pooled = True
        self._attach(upstream)

    def _attach(self, upstream: _Upstream) -> None:
        assert self.plan is not None and upstream.transport is not None
        upstream.owner = self
        self.upstream = upstream
        self.deadline = self.loop.time() + self.server.limits.response_timeout
        self.batch.write(upstream.transport, self.plan.request)

    async def _connect(self, plan: _Plan) -> None:
        server = self.server
        _, host, port = plan.key
        shown = self.host
        address = server.connect_to.get(host, host)
        loop = self.loop
        try:
            transport, upstream = await asyncio.wait_for(
                loop.create_connection(_Upstream, address, port), server.limits.connect_timeout
            )
        except TimeoutError:
            self._fail(error_response(504, f"timed out connecting to {shown}:{port}"))
            return
        except socket.gaierror:
            self._fail(error_response(502, f"cannot resolve host {shown}"))
            return
        except ConnectionRefusedError:
            self._fail(error_response(502, f"connection refused by {shown}:{port}"))
            return
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            self._fail(error_response(502, f"cannot connect to {shown}:{port}: {reason}"))
            return
        if self.closed or self.handed or self.plan is not plan:
            transport.abort()
            return
        if server._is_loop(transport):
            transport.abort()
            self._fail(error_response(508, "the proxy will not relay to itself"))
            return
        self._attach(upstream)

    def _fail(self, response: bytes) -> None:
        """Answer an error for the request in flight and close the connection."""
        if self.closed or self.handed or self.transport is None:
            return
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abort()
        self.batch.write(self.transport, response)
        self._hand_close()

    # -- upstream callbacks ------------------------------------------------------------

    def upstream_data(self, data: bytes) -> None:
        assert self.transport is not None
        if self.stage is _Stage.BODY:
            if len(data) > self.remaining:
                data = data[: self.remaining]
                self.upstream_keep = False  # bytes after the body: never reuse
            self.remaining -= len(data)
            self.batch.write(self.transport, data)
            self.deadline = self.loop.time() + self.server.limits.idle_timeout
            if not self.remaining:
                self._done()
            return
        if self.stage is not _Stage.UPSTREAM:
            return
        limits = self.server.limits
        ubuf = self.ubuf = self.ubuf + data if self.ubuf else data
        end = ubuf.find(b"\r\n\r\n")
        if end < 0:
            if len(ubuf) > limits.http.max_head:
                self._fail(error_response(502, "upstream response head too large"))
            return
        head_end = end + 4
        request, plan = self.request, self.plan
        assert request is not None and plan is not None
        raw = ubuf[:head_end]
        if (
            plan.client_keep
            and not plan.verdict.engage  # a page context may open: the general path
            and request.method == "GET"
            and request.version == "HTTP/1.1"
        ):
            fast = plain_response(raw, limits.http)
            if fast is not None:
                self._relay_start(fast[0], head_end, fast[1], True, True)
                return
        head = request.head()
        try:
            response = parse_response_head(raw, limits.http)
            framing, _ = response_framing(response, head.method)
        except HttpError as exc:
            self._fail(error_response(exc.status, exc.message))
            return
        if response.status < 200 or framing not in (Framing.NONE, Framing.LENGTH):
            self._hand_response(head_end)
            return
        try:
            head_bytes, framing, length, keep, upstream_keep, _ = self.server._response_plan(
                response, head, plan
            )
        except HttpError as exc:
            self._fail(error_response(exc.status, exc.message))
            return
        self._relay_start(head_bytes, head_end, length, keep, upstream_keep)

    def _relay_start(
        self, head_bytes: bytes, head_end: int, length: int, keep: bool, upstream_keep: bool
    ) -> None:
        """Send the response head with the body bytes already here (one write)."""
        assert self.transport is not None
        body = self.ubuf[head_end:]
        self.ubuf = b""
        if len(body) > length:
            body = body[:length]
            upstream_keep = False
        self.batch.write(self.transport, head_bytes + body if body else head_bytes)
        self.keep, self.upstream_keep = keep, upstream_keep
        self.remaining = length - len(body)
        if self.remaining:
            self.stage = _Stage.BODY
            self.deadline = self.loop.time() + self.server.limits.idle_timeout
        else:
            self._done()

    def upstream_lost(self, upstream: _Upstream) -> None:
        if upstream is not self.upstream:
            return
        self.upstream = None
        if self.closed or self.handed:
            return
        if self.stage is _Stage.UPSTREAM:
            if self.timed_out:
                self.timed_out = False
                self._fail(error_response(504, f"{self.host} did not answer in time"))
            elif self.pooled and not self.ubuf:
                # A pooled connection the upstream closed a moment ago: retry once, fresh.
                self._send_upstream(1)
            else:
                self._fail(
                    error_response(502, f"{self.host} closed the connection without a response")
                )
        elif self.stage is _Stage.BODY:
            self.abort()  # the client sees a truncated body and a closed connection

    def _done(self) -> None:
        """The response is complete: pool the upstream, then serve what is buffered."""
        server = self.server
        loop = self.loop
        upstream, self.upstream = self.upstream, None
        plan, self.plan, self.request = self.plan, None, None
        if upstream is not None:
            upstream.owner = None
            if self.paused and upstream.transport is not None:
                upstream.transport.resume_reading()  # paused for us; the next owner reads
            if self.upstream_keep and plan is not None and not server._closing:
                server._fast_pool.put(plan.key, upstream, loop.time())
            else:
                upstream.abort()
        self.stage = _Stage.HEAD
        if not self.keep:
            self._hand_close()
            return
        self.deadline = loop.time() + server.limits.idle_timeout
        if self.reading_paused and self.transport is not None:
            self.transport.resume_reading()
            self.reading_paused = False
        if self.buf or self.eof:
            self._process()

    # -- handing over to the stream code -----------------------------------------------

    def _to_streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self.transport is not None
        self.batch.flush()  # the stream code writes directly: queued bytes go first
        self.handed = True
        self.server._conns.discard(self)
        if self.reading_paused:
            self.transport.resume_reading()
            self.reading_paused = False
        data, self.buf = bytes(self.buf), b""
        return _streams_for(self.transport, data, self.eof, self.server.limits.http.max_head)

    def _hand_head(self) -> None:
        """Let the stream code serve this connection from the next request head on."""
        reader, writer = self._to_streams()
        conn = _Conn(reader, writer)
        conn.first = self.first
        self.server._spawn(self.server._run(conn))

    def _hand_close(self) -> None:
        """Close after the last response without losing it (see `_linger`)."""
        if self.closed or self.handed:
            return
        reader, writer = self._to_streams()
        self.server._spawn(_linger(reader, writer))

    def _hand_response(self, head_end: int) -> None:
        """Relay this response, and serve the connection after it, with the stream code."""
        self.batch.flush()
        upstream, self.upstream = self.upstream, None
        assert upstream is not None and upstream.transport is not None
        assert self.request is not None and self.plan is not None
        upstream.owner = None
        data, rest = self.ubuf[:head_end], self.ubuf[head_end:]
        self.ubuf = b""
        limit = self.server.limits.http.max_head
        up_reader, up_writer = _streams_for(upstream.transport, rest, False, limit)
        reader, writer = self._to_streams()
        conn = _Conn(reader, writer)
        conn.first = False
        conn.upstream = up_writer
        relay = self.server._relay_response(
            conn, self.request.head(), self.plan, (up_reader, up_writer), data
        )
        self.server._spawn(self.server._run(conn, relay))


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


class _Acceptor:
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
        fast_path: bool = True,
        reuse_port: bool = False,
        sock: socket.socket | None = None,
    ) -> None:
        self.state = state
        #: Host name -> address to connect to instead of resolving it (like curl's
        #: --connect-to). Tests and benchmarks use it for `*.test` names on loopback.
        self.connect_to = {k.lower(): v for k, v in (connect_to or {}).items()}
        self.host = host
        self.port = port
        self.limits = limits or ServerLimits()
        self.log = log
        self.pac_fallback_direct = pac_fallback_direct
        self._allow = _networks(allow_from)
        self._server: asyncio.Server | None = None  # the stream-only listener
        self._acceptor: _Acceptor | None = None  # the fast path's listener
        self._conns: set[_Conn | _FastConn] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        limits = self.limits
        self._pool: _IdlePool[Stream] = _IdlePool(
            limits.pool_per_host, limits.pool_idle_timeout, _stream_usable, _stream_abort
        )
        self._fast_pool: _IdlePool[_Upstream] = _IdlePool(
            limits.pool_per_host,
            limits.pool_idle_timeout,
            lambda upstream: not upstream.closed,
            lambda upstream: upstream.abort(),
        )
        self.fast_path = fast_path
        self.reuse_port = reuse_port
        #: A listening socket to serve (a worker's, see `workers`) instead of host/port.
        self.sock = sock
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False
        self._listen: list[tuple[str, int]] = []
        self._tls = ssl.create_default_context()
        self.requests = 0  # served requests, for status and tests
        self._batch: _WriteBatch | None = None  # set by start(): needs the running loop

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._batch = _WriteBatch(loop)
        if self.sock is None and not self.fast_path:
            self._server = await asyncio.start_server(
                self._accept,
                self.host,
                self.port,
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
                else listening_sockets(self.host, self.port, reuse_port=self.reuse_port)
            )
            self._acceptor = _Acceptor(sockets, self._adopt)
            self._acceptor.start(loop)
        self._listen = [s.getsockname()[:2] for s in sockets]
        self.port = self._listen[0][1]
        self._sweeper = asyncio.create_task(self._sweep())

    def _adopt(self, conn: socket.socket) -> None:
        """A connection `_Acceptor` took: serve it with the fast path's protocol."""
        self._spawn(self._adopt_later(conn))

    async def _adopt_later(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: _FastConn(self), conn)
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
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._acceptor is not None:
            self._acceptor.close()
        for conn in list(self._conns):
            conn.close_idle()
        loop = asyncio.get_running_loop()
        end = loop.time() + self.limits.shutdown_grace
        while self._conns and loop.time() < end:
            await asyncio.sleep(0.05)
        for conn in list(self._conns):
            conn.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        self._pool.close()
        self._fast_pool.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    @property
    def connections(self) -> int:
        return len(self._conns)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.25)
            now = loop.time()
            for conn in list(self._conns):
                if conn.deadline < now and not conn.timed_out:
                    conn.expire()
            self._pool.sweep(now)
            self._fast_pool.sweep(now)

    # -- accepting ---------------------------------------------------------------------

    def _client_allowed(self, peer: object) -> bool:
        if not isinstance(peer, tuple) or not peer:
            return False  # not TCP/IP: refuse
        try:
            ip = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self._allow)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if not self._client_allowed(writer.get_extra_info("peername")):
                writer.write(error_response(403, "client address not in --allow-from"))
                await _linger(reader, writer)
                return
            if len(self._conns) >= self.limits.max_connections or self._closing:
                writer.write(error_response(503, "too many connections"))
                await _linger(reader, writer)
                return
            await self._run(_Conn(reader, writer))
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _run(
        self, conn: _Conn, resume: Coroutine[object, object, bool] | None = None
    ) -> None:
        """Serve a connection with streams; `resume` first finishes a request in flight
        (a connection the fast path handed over, see `_FastConn`)."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._conns.add(conn)
        try:
            if resume is None or await resume:
                await self._serve(conn)
        except (_ClientGone, ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            logger.exception("connection handler failed")
        finally:
            if resume is not None:
                resume.close()  # never awaited when the handler failed early
            self._conns.discard(conn)
            if conn.upstream is not None:
                conn.upstream.transport.abort()
            await _linger(conn.reader, conn.writer)
            if task is not None:
                self._tasks.discard(task)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- request loop ------------------------------------------------------------------

    async def _serve(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        limits = self.limits
        reader = conn.reader
        while not self._closing:
            conn.stage = _Stage.HEAD
            conn.deadline = loop.time() + (
                limits.head_timeout if conn.first else limits.idle_timeout
            )
            try:
                data = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip() and not conn.timed_out:
                    await self._send(conn, error_response(400, "incomplete request head"))
                return
            except asyncio.LimitOverrunError:
                await self._send(conn, error_response(431, "request head too large"))
                return
            if conn.timed_out:
                return
            conn.first = False
            conn.stage = _Stage.BODY
            conn.deadline = loop.time() + limits.idle_timeout
            try:
                head = parse_request_head(data.lstrip(b"\r\n"), limits.http)
            except HttpError as exc:
                await self._send(conn, error_response(exc.status, exc.message))
                return
            self.requests += 1
            try:
                keep = await self._dispatch(conn, head)
            except HttpError as exc:
                await self._send(conn, error_response(exc.status, exc.message))
                return
            if not keep:
                return

    async def _send(self, conn: _Conn, data: bytes) -> None:
        try:
            conn.writer.write(data)
            await conn.writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise _ClientGone from exc

    async def _dispatch(self, conn: _Conn, head: RequestHead) -> bool:
        if head.method == "CONNECT":
            await self._tunnel(conn, head)
            return False
        target = head.target
        if target.startswith("/") or target == "*":
            return await self._local(conn, head, target)
        parsed = parse_absolute_target(target)
        if self._is_self(parsed.host, parsed.port):
            return await self._local(conn, head, parsed.path)
        return await self._forward(conn, head, parsed)

    def _is_self(self, host: str, port: int) -> bool:
        if port != self.port:
            return False
        host = host.lower().strip("[]")
        if host in ("localhost", self.host.lower()):
            return True
        ip = plain_ip(host)  # `[::ffff:127.0.0.2]` reaches 127.0.0.2 (issue 9 defect 6)
        if ip is None:
            return False
        return (
            ip.is_loopback or ip.is_unspecified or any(ip == plain_ip(a) for a, _ in self._listen)
        )

    # -- requests to the proxy itself --------------------------------------------------

    async def _local(self, conn: _Conn, head: RequestHead, path: str) -> bool:
        keep = keep_alive(head.version, head.headers) and request_framing(head)[0] is Framing.NONE
        path = path.split("?", 1)[0]
        if head.method not in ("GET", "HEAD"):
            body, status, ctype = b"method not allowed\n", 405, "text/plain; charset=utf-8"
        elif path == PAC_PATH:
            host_header = head.get("host") or ""
            pac_host = self.host
            if host_header:
                with contextlib.suppress(HttpError):
                    pac_host = split_host_port(host_header, self.port)[0]
            if pac_host in ("0.0.0.0", "::", ""):
                pac_host = "127.0.0.1"
            text = build_pac(pac_host, self.port, fallback_direct=self.pac_fallback_direct)
            body, status, ctype = text.encode("ascii"), 200, PAC_CONTENT_TYPE
        elif path == "/":
            body = (
                "trackguard protection proxy\n"
                f"Configure your browser to use this address as its HTTP and HTTPS proxy,\n"
                f"or point it at the auto-config file {PAC_PATH}.\n"
            ).encode()
            status, ctype = 200, "text/plain; charset=utf-8"
        else:
            body, status, ctype = b"not found\n", 404, "text/plain; charset=utf-8"
        response = build_response(
            status,
            [("Content-Type", ctype), ("Cache-Control", "no-cache")],
            body,
            close=not keep,
            head_only=head.method == "HEAD",
        )
        await self._send(conn, response)
        return keep

    # -- CONNECT tunnels ---------------------------------------------------------------

    async def _tunnel(self, conn: _Conn, head: RequestHead) -> None:
        host, port = split_host_port(head.target, 443)
        state = self.state
        try:
            verdict = decide_tunnel(host, config=state.config, matcher=state.matcher)
        except Exception:
            logger.exception("tunnel policy failed for %s; failing open", host)
            verdict = Verdict(False, Layer.UNATTRIBUTED, RequestType.OTHER, host, "")
        self._record(verdict, "tunnel", None)
        if verdict.blocked:
            await self._send(conn, tunnel_refused(self._explain(verdict), verdict.host))
            return
        if self._is_self(host, port):
            await self._send(conn, error_response(508, "the proxy will not tunnel to itself"))
            return
        upstream = await self._open(conn, "tcp", host, port)
        if upstream is None:
            return
        await self._send(conn, TUNNEL_ESTABLISHED)
        await self._pipe(conn, upstream)

    async def _pipe(self, conn: _Conn, upstream: Stream) -> None:
        """Move bytes both ways until both sides are done; idle deadline applies."""
        conn.stage = _Stage.TUNNEL
        loop = asyncio.get_running_loop()
        idle = self.limits.tunnel_idle_timeout
        conn.deadline = loop.time() + idle

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while True:
                    data = await src.read(_COPY_SIZE)
                    if not data:
                        break
                    conn.deadline = loop.time() + idle
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof() and not dst.is_closing():
                    dst.write_eof()
            except (ConnectionError, RuntimeError, OSError):
                conn.writer.transport.abort()
                upstream[1].transport.abort()

        await asyncio.gather(copy(conn.reader, upstream[1]), copy(upstream[0], conn.writer))
        upstream[1].transport.abort()

    # -- upstream connections ----------------------------------------------------------

    async def _open(self, conn: _Conn, scheme: str, host: str, port: int) -> Stream | None:
        """Connect, answering 502/504/508 to the client itself on failure (then None)."""
        loop = asyncio.get_running_loop()
        conn.stage = _Stage.UPSTREAM
        conn.deadline = loop.time() + self.limits.connect_timeout + 1
        tls = self._tls if scheme == "https" else None
        address = self.connect_to.get(host.lower(), host)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    address,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                    limit=self.limits.http.max_head,
                ),
                self.limits.connect_timeout,
            )
        except TimeoutError:
            await self._send(conn, error_response(504, f"timed out connecting to {host}:{port}"))
            return None
        except socket.gaierror:
            await self._send(conn, error_response(502, f"cannot resolve host {host}"))
            return None
        except ConnectionRefusedError:
            await self._send(conn, error_response(502, f"connection refused by {host}:{port}"))
            return None
        except ssl.SSLError as exc:
            await self._send(conn, error_response(502, f"TLS error with {host}: {exc.reason}"))
            return None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            await self._send(
                conn, error_response(502, f"cannot connect to {host}:{port}: {reason}")
            )
            return None
        if self._is_loop(writer.transport):
            writer.transport.abort()
            await self._send(conn, error_response(508, "the proxy will not relay to itself"))
            return None
        conn.upstream = writer
        return reader, writer

    def _is_loop(self, transport: asyncio.BaseTransport) -> bool:
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

    # -- plain HTTP forwarding ---------------------------------------------------------

    def _plan(self, head: RequestHead, target: Target, framing: Framing) -> _Plan:
        """Decide a plain-HTTP request and build the head that goes upstream. No I/O.

        Shared by the fast path (through `_plan_parts`) and the stream path, so both
        decide, log and rewrite requests identically.
        """
        lower, tokens = header_map(head.headers)
        return self._plan_parts(
            head.method,
            head.version,
            head.headers,
            lower,
            tokens,
            target.url,
            target.authority,
            target.path,
            (target.scheme, target.host.lower(), target.port),
            framing,
        )

    def _plan_parts(
        self,
        method: str,
        version: str,
        headers: tuple[Header, ...],
        lower: dict[str, str],
        tokens: frozenset[str],
        url: str,
        authority: str,
        path: str,
        key: tuple[str, str, int],
        framing: Framing,
    ) -> _Plan:
        """`_plan` from a request already split up: `lower` maps lower-case field names
        to their first value, `tokens` are the `Connection` tokens (`fastpath.header_map`)."""
        client_keep = (
            "close" not in tokens
            and (version == "HTTP/1.1" or "keep-alive" in tokens)
            and not self._closing
        )
        state = self.state
        config, matcher, record = state.config, state.memo, state.record
        try:
            verdict = decide(method, url, lower, config=config, matcher=matcher, record=record)
        except Exception:
            logger.exception("policy failed for %s; failing open", key[1])
            verdict = Verdict(False, Layer.UNATTRIBUTED, RequestType.OTHER, key[1], "")

        if verdict.blocked:
            self._record(verdict, "http", url)
            close = not client_keep or framing is not Framing.NONE
            response = blocked_response(
                verdict.type,
                self._explain(verdict),
                host=verdict.host,
                method=method,
                request_headers=lower,
                close=close,
            )
            return _Plan(verdict, url, client_keep, response=response, close=close)

        if verdict.frame_of is not None:
            record.note_frame(url, verdict.frame_of)
        try:
            new_url, rules = strip_params(url, verdict, config=config, matcher=matcher)
        except Exception:
            logger.exception("removeparam failed for %s", key[1])
            new_url, rules = url, ()
        if rules and new_url != url:
            path = parse_absolute_target(new_url).path
            self._record(verdict, "http", None, strip=rules[0].source)
        else:
            self._record(verdict, "http", None)

        upgrade = lower.get("upgrade", "")
        is_upgrade = bool(upgrade) and "upgrade" in tokens
        drop = _DROP_FOR_TOKENS.get(tokens) or _FORWARD_DROP | tokens
        out = [("Host", authority)]
        out += [h for h in headers if h[0].lower() not in drop]
        if config.signals.active:
            out = apply_signals(out, config.signals)
        if framing is Framing.CHUNKED:
            out.append(("Transfer-Encoding", "chunked"))
        if is_upgrade:
            out.append(("Connection", "Upgrade"))
            out.append(("Upgrade", upgrade))
        request_bytes = serialize_head(f"{method} {path} HTTP/1.1", out)
        expect = "100-continue" in lower.get("expect", "").lower()
        return _Plan(
            verdict,
            url,
            client_keep,
            request=request_bytes,
            is_upgrade=is_upgrade,
            expect=expect,
            key=key,
        )

    def _response_plan(
        self, response: ResponseHead, head: RequestHead, plan: _Plan
    ) -> tuple[bytes, Framing, int, bool, bool, bool]:
        """The client's response head for an upstream response, and how to relay the body.

        Returns (head bytes, framing, length, keep client, keep upstream, dechunk). Raises
        HttpError (502) for a response whose framing cannot be trusted. Also opens the page
        context when a possible navigation answered 2xx HTML (§B2 rule 1).
        """
        if (
            plan.verdict.engage
            and 200 <= response.status < 300
            and (response.get("content-type") or "")
            .lower()
            .startswith(("text/html", "application/xhtml"))
        ):
            self.state.record.engage(plan.url)
        framing, length = response_framing(response, head.method)
        upstream_keep = (
            keep_alive(response.version, response.headers) and framing is not Framing.CLOSE
        )
        dechunk = framing is Framing.CHUNKED and head.version == "HTTP/1.0"
        keep = plan.client_keep and framing is not Framing.CLOSE and not dechunk
        headers = strip_hop_by_hop(response.headers)
        if framing is Framing.CHUNKED and not dechunk:
            headers.append(("Transfer-Encoding", "chunked"))
        if not keep:
            headers.append(("Connection", "close"))
        elif head.version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))  # 1.0 clients assume close otherwise
        status_line = f"HTTP/1.1 {response.status} {response.reason}"
        return (
            serialize_head(status_line, headers),
            framing,
            length,
            keep,
            upstream_keep,
            dechunk,
        )

    async def _forward(self, conn: _Conn, head: RequestHead, target: Target) -> bool:
        loop = asyncio.get_running_loop()
        framing, length = request_framing(head)
        plan = self._plan(head, target, framing)
        if plan.response is not None:
            await self._send(conn, plan.response)
            return not plan.close
        client_keep = plan.client_keep
        key = plan.key
        # A pooled connection may have been closed by the upstream a moment ago; a request
        # without a body can safely be retried once on a fresh connection.
        for attempt in (0, 1):
            pooled = self._pool.get(key) if attempt == 0 else None
            if pooled is not None:
                conn.upstream = pooled[1]
                upstream = pooled
            else:
                opened = await self._open(conn, target.scheme, target.host, target.port)
                if opened is None:
                    return framing is Framing.NONE and client_keep
                upstream = opened
            conn.stage = _Stage.UPSTREAM
            conn.deadline = loop.time() + self.limits.response_timeout
            try:
                upstream[1].write(plan.request)
                if framing is not Framing.NONE:
                    if plan.expect and head.version == "HTTP/1.1":
                        await self._send(conn, CONTINUE)
                    conn.stage = _Stage.BODY
                    await self._copy_body(
                        conn, conn.reader, upstream[1], framing, length, client_side=True
                    )
                    conn.stage = _Stage.UPSTREAM
                    conn.deadline = loop.time() + self.limits.response_timeout
                else:
                    await upstream[1].drain()
                data = await upstream[0].readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                upstream[1].transport.abort()
                conn.upstream = None
                if conn.timed_out:
                    conn.timed_out = False
                    await self._send(
                        conn, error_response(504, f"{target.host} did not answer in time")
                    )
                    return False
                partial = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
                if pooled is not None and not partial and framing is Framing.NONE:
                    continue
                await self._send(
                    conn,
                    error_response(502, f"{target.host} closed the connection without a response"),
                )
                return False
            except asyncio.LimitOverrunError:
                upstream[1].transport.abort()
                conn.upstream = None
                await self._send(conn, error_response(502, "upstream response head too large"))
                return False
        else:  # pragma: no cover - the loop always breaks or returns
            return False

        return await self._relay_response(conn, head, plan, upstream, data)

    async def _relay_response(
        self,
        conn: _Conn,
        head: RequestHead,
        plan: _Plan,
        upstream: Stream,
        data: bytes,
    ) -> bool:
        loop = asyncio.get_running_loop()
        while True:
            try:
                response = parse_response_head(data, self.limits.http)
            except HttpError as exc:
                upstream[1].transport.abort()
                conn.upstream = None
                await self._send(conn, error_response(exc.status, exc.message))
                return False
            if response.status == 101 and plan.is_upgrade:
                headers = [(k, v) for k, v in response.headers]
                await self._send(conn, serialize_head(f"HTTP/1.1 101 {response.reason}", headers))
                await self._pipe(conn, upstream)
                return False
            if response.status >= 200:
                break
            # Interim responses (100, 103): ours already answered Expect; drop them.
            try:
                data = await upstream[0].readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                upstream[1].transport.abort()
                conn.upstream = None
                await self._send(conn, error_response(502, "upstream closed after 1xx"))
                return False

        try:
            response_head, framing, length, keep, upstream_keep, dechunk = self._response_plan(
                response, head, plan
            )
        except HttpError as exc:
            upstream[1].transport.abort()
            conn.upstream = None
            await self._send(conn, error_response(exc.status, exc.message))
            return False
        conn.stage = _Stage.BODY
        conn.deadline = loop.time() + self.limits.idle_timeout
        if framing is Framing.LENGTH and length <= _COPY_SIZE:
            # Small bodies usually arrived with the head: send head and body in one write
            # (one syscall fewer per request, the common case for trackers and pages).
            buffered = getattr(upstream[0], "_buffer", b"")
            if len(buffered) >= length:
                response_head += await upstream[0].readexactly(length)
                framing = Framing.NONE
        conn.writer.write(response_head)
        try:
            if framing is not Framing.NONE:
                await self._copy_body(
                    conn,
                    upstream[0],
                    conn.writer,
                    framing,
                    length,
                    client_side=False,
                    dechunk=dechunk,
                )
            else:
                await self._drain_client(conn)
        except _UpstreamGone:
            upstream[1].transport.abort()
            conn.upstream = None
            return False  # the client sees a truncated body and a closed connection
        conn.upstream = None
        if upstream_keep and not self._closing:
            self._pool.put(plan.key, upstream, loop.time())
        else:
            upstream[1].transport.abort()
        return keep

    async def _drain_client(self, conn: _Conn) -> None:
        try:
            await conn.writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise _ClientGone from exc

    async def _copy_body(
        self,
        conn: _Conn,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        framing: Framing,
        length: int,
        *,
        client_side: bool,
        dechunk: bool = False,
    ) -> None:
        """Stream one body from `src` to `dst`, never holding more than one chunk.

        `client_side`: the body comes from the client (an early EOF means the client went
        away); otherwise from the upstream (an early EOF truncates the response).
        """
        loop = asyncio.get_running_loop()
        idle = self.limits.idle_timeout
        gone: type[Exception] = _ClientGone if client_side else _UpstreamGone

        async def write(data: bytes) -> None:
            dst.write(data)
            try:
                await dst.drain()
            except (ConnectionError, RuntimeError) as exc:
                raise (_UpstreamGone if client_side else _ClientGone) from exc

        try:
            if framing is Framing.LENGTH:
                remaining = length
                while remaining:
                    data = await src.read(min(_COPY_SIZE, remaining))
                    if not data:
                        raise gone("body ended early")
                    remaining -= len(data)
                    conn.deadline = loop.time() + idle
                    await write(data)
            elif framing is Framing.CLOSE:
                while True:
                    data = await src.read(_COPY_SIZE)
                    if not data:
                        break
                    conn.deadline = loop.time() + idle
                    await write(data)
            elif framing is Framing.CHUNKED:
                while True:
                    line = await src.readuntil(b"\r\n")
                    size = parse_chunk_size(line, self.limits.http)
                    if not dechunk:
                        dst.write(line)
                    if size == 0:
                        break
                    remaining = size + 2  # data and its CRLF
                    while remaining:
                        data = await src.read(min(_COPY_SIZE, remaining))
                        if not data:
                            raise gone("chunked body ended early")
                        remaining -= len(data)
                        conn.deadline = loop.time() + idle
                        if dechunk:
                            data = data[: max(0, len(data) - max(0, 2 - remaining))]
                        await write(data)
                # Trailer section: fields until an empty line (bounded by the reader limit).
                while True:
                    line = await src.readuntil(b"\r\n")
                    if not dechunk:
                        dst.write(line)
                    if line == b"\r\n":
                        break
                await write(b"")
        except asyncio.IncompleteReadError as exc:
            raise gone("body ended early") from exc
        except asyncio.LimitOverrunError as exc:
            raise gone("chunk line too long") from exc
        except HttpError as exc:
            raise gone(exc.message) from exc

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _explain(verdict: Verdict) -> str:
        return describe_rule(verdict.rule, verdict.list, verdict.line, verdict.layer.value)

    def _record(
        self, verdict: Verdict, kind: str, url: str | None, strip: SourceRef | None = None
    ) -> None:
        log = self.log
        if log is None:
            return
        rule: str | None = None
        list_id: str | None = None
        line: int | None = None
        if strip is not None:
            action = "strip"
            rule, list_id, line = strip.text, strip.list_id, strip.line
        else:
            action = "block" if verdict.blocked else "allow"
            decision = verdict.decision
            matched = decision.matched if decision is not None else None
            if matched is not None:
                source = matched.source
                rule, list_id, line = source.text, source.list_id, source.line
        log.add_fields(
            time.time(),
            kind,
            action,
            verdict.layer.value,
            "tunnel" if kind == "tunnel" else _type_name(verdict.type),
            verdict.site,
            verdict.host,
            rule,
            list_id,
            line,
            strip_query(url) if verdict.blocked and url else None,
        )
