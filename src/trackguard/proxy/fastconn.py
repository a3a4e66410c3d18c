"""The fast path: `asyncio.Protocol` callbacks for simple keep-alive GET/HEAD exchanges.

Most proxied traffic is keep-alive GETs with small, length-delimited responses. Serving
those through StreamReader/StreamWriter coroutines costs several times the Python work
of the request itself, so the listener speaks `asyncio.Protocol` directly: one callback
per read, the head parsed once from the buffer (`fastpath`), one write per response.
Anything else (CONNECT, request bodies, Expect, upgrades, requests for the proxy itself,
HTTPS upstreams, chunked or close-delimited or interim responses, malformed input) is
handed to the stream code (`streamconn`), unchanged: the transport is re-attached to a
StreamReader fed with the bytes already read, and `StreamConn.run` carries on, if need be
from the middle of the request (`StreamConn.relay_response`). So every unusual case keeps
the tested stream behaviour, and the fast path only ever sees the simple one.

Rule: this module moves bytes. The `Planner` (`exchange`) decides, explains and records,
and builds every head it sends; the pool keeps idle upstreams.
"""

from __future__ import annotations

import asyncio
import socket
from typing import cast

from trackguard.proxy.connection import Context, Stage, WriteBatch, linger
from trackguard.proxy.exchange import Plan
from trackguard.proxy.fastpath import FastRequest, parse_simple_request, plain_response
from trackguard.proxy.http1 import Framing, HttpError, parse_response_head, response_framing
from trackguard.proxy.pool import Upstream
from trackguard.proxy.resolve import Cloaked
from trackguard.proxy.responses import error_response
from trackguard.proxy.streamconn import StreamConn, accept

#: Body reads at least this large are written at once rather than batched (see
#: `upstream_data`); small ones still share the iteration's batch.
_DIRECT_WRITE = 16 * 1024


def streams_for(
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


class FastConn(asyncio.Protocol):
    """One client connection served by callbacks; see the module docstring.

    Stages as in `StreamConn`: HEAD (reading a request head), UPSTREAM (connecting, or waiting
    for the response head), BODY (relaying a length-delimited body). The sweeper's
    deadlines and `expire` work as for stream connections.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # One lookup per connection: get_running_loop() costs a getpid() system call.
        self.loop = asyncio.get_running_loop()
        assert ctx.batch is not None, "connections arrive after start()"
        self.batch: WriteBatch = ctx.batch
        self.transport: asyncio.Transport | None = None
        # Unparsed bytes from the client and from the upstream. Plain `bytes`: in the common
        # case one read holds one whole head, which is then used without a copy.
        self.buf = b""
        self.ubuf = b""
        self.stage = Stage.HEAD
        self.first = True
        self.deadline = 0.0
        self.timed_out = False
        self.handed = False  # the stream code owns the transport now
        self.closed = False
        self.eof = False
        self.paused = False  # the client's side of the socket is full
        self.reading_paused = False
        self.upstream: Upstream | None = None
        self.pooled = False  # the upstream in use came from the pool (retry once)
        self.request: FastRequest | None = None
        self.plan: Plan | None = None
        self.host = ""
        self.remaining = 0
        self.keep = False
        self.upstream_keep = False

    # -- client callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        ctx = self.ctx
        if (
            not ctx.client_allowed(transport.get_extra_info("peername"))
            or len(ctx.conns) >= ctx.limits.max_connections
            or ctx.closing
        ):
            # Refusals (403/503) are rare: the stream code answers them.
            reader, writer = self._to_streams()
            ctx.spawn(accept(ctx, reader, writer))
            return
        ctx.conns.add(self)
        self.deadline = self.loop.time() + ctx.limits.head_timeout

    def data_received(self, data: bytes) -> None:
        self.buf = self.buf + data if self.buf else data
        if self.stage is Stage.HEAD:
            self._process()
        elif len(self.buf) > self.ctx.limits.http.max_head and not self.reading_paused:
            assert self.transport is not None
            self.transport.pause_reading()  # pipelined requests wait their turn
            self.reading_paused = True

    def eof_received(self) -> bool:
        self.eof = True
        if self.stage is Stage.HEAD and not self.handed:
            if self.buf.strip():
                self._hand_head()  # the stream code answers 400 (incomplete head)
                return True
            return False
        return True  # finish the response in flight, then close

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.ctx.conns.discard(self)
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
        if self.stage is Stage.HEAD and self.buf and not self.handed:
            self._process()

    # -- sweeper and shutdown ----------------------------------------------------------

    def expire(self) -> None:
        self.timed_out = True
        self.batch.flush()
        transport = self.transport
        assert transport is not None
        if self.stage is Stage.HEAD:
            if self.first:
                transport.write(error_response(408, "request head not received in time"))
            self._close_softly(2.0)
        elif self.stage is Stage.UPSTREAM:
            upstream = self.upstream
            if upstream is not None:
                upstream.abort()
                self.upstream_lost(upstream)  # answers 504
        else:
            self.abort()

    def close_idle(self) -> None:
        if self.stage is Stage.HEAD:
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
        ctx = self.ctx
        limits = ctx.limits
        while self.stage is Stage.HEAD and not self.handed and not self.paused:
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
            if simple is None or ctx.is_self(simple.host, simple.port):
                # Bodies, upgrades, other schemes, malformed heads...: the stream code.
                self._hand_head()
                return
            self.buf = buf[head_end:]
            self.first = False
            ctx.requests += 1
            self.deadline = self.loop.time() + limits.idle_timeout
            plan = ctx.planner.request(
                simple,
                ("http", simple.host.lower(), simple.port),
                Framing.NONE,
                closing=ctx.closing,
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
        self.stage = Stage.UPSTREAM
        self.ubuf = b""
        upstream = self.ctx.fast_pool.get(plan.key) if attempt == 0 else None
        loop = self.loop
        if upstream is None:
            self.pooled = False
            self.deadline = loop.time() + self.ctx.limits.connect_timeout + 1
            self.ctx.spawn(self._connect(plan))
            return
        self.pooled = True
        self._attach(upstream)

    def _attach(self, upstream: Upstream) -> None:
        assert self.plan is not None and upstream.transport is not None
        upstream.owner = self
        self.upstream = upstream
        self.deadline = self.loop.time() + self.ctx.limits.response_timeout
        self.batch.write(upstream.transport, self.plan.request)

    async def _connect(self, plan: Plan) -> None:
        ctx = self.ctx
        _, host, port = plan.key
        shown = self.host
        loop = self.loop
        try:
            address = await ctx.upstream_address(host)
            transport, upstream = await asyncio.wait_for(
                loop.create_connection(Upstream, address, port), ctx.limits.connect_timeout
            )
        except Cloaked as exc:
            self._fail(ctx.planner.cloaked(shown, exc.verdict, "http"))
            return
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
        if ctx.is_loop(transport):
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
        if self.stage is Stage.BODY:
            if len(data) > self.remaining:
                data = data[: self.remaining]
                self.upstream_keep = False  # bytes after the body: never reuse
            self.remaining -= len(data)
            if len(data) >= _DIRECT_WRITE or self.paused:
                # Large reads go out at once, not batched: a full client then calls
                # pause_writing inside this write, which stops the upstream's read loop
                # before the next read. Batched, libuv delivered up to 32 reads per event
                # first: 4-5 MiB queued per non-reading client under uvloop (issue 9,
                # benchmarks/proxy_memory.py), 0.3 MiB now.
                self.batch.flush()  # what is queued for this client goes first
                self.transport.write(data)
            else:
                self.batch.write(self.transport, data)
            self.deadline = self.loop.time() + self.ctx.limits.idle_timeout
            if not self.remaining:
                self._done()
            return
        if self.stage is not Stage.UPSTREAM:
            return
        limits = self.ctx.limits
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
            and not plan.inspect  # the learner observes, or a learned strip edits, the head
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
            relay = self.ctx.planner.response_head(response, head, plan)
        except HttpError as exc:
            self._fail(error_response(exc.status, exc.message))
            return
        self._relay_start(relay.head, head_end, relay.length, relay.keep, relay.upstream_keep)

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
            self.stage = Stage.BODY
            self.deadline = self.loop.time() + self.ctx.limits.idle_timeout
        else:
            self._done()

    def upstream_lost(self, upstream: Upstream) -> None:
        if upstream is not self.upstream:
            return
        self.upstream = None
        if self.closed or self.handed:
            return
        if self.stage is Stage.UPSTREAM:
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
        elif self.stage is Stage.BODY:
            self.abort()  # the client sees a truncated body and a closed connection

    def _done(self) -> None:
        """The response is complete: pool the upstream, then serve what is buffered."""
        ctx = self.ctx
        loop = self.loop
        upstream, self.upstream = self.upstream, None
        plan, self.plan, self.request = self.plan, None, None
        if upstream is not None:
            upstream.owner = None
            if self.paused and upstream.transport is not None:
                upstream.transport.resume_reading()  # paused for us; the next owner reads
            if self.upstream_keep and plan is not None and not ctx.closing:
                ctx.fast_pool.put(plan.key, upstream, loop.time())
            else:
                upstream.abort()
        self.stage = Stage.HEAD
        if not self.keep:
            self._hand_close()
            return
        self.deadline = loop.time() + ctx.limits.idle_timeout
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
        self.ctx.conns.discard(self)
        if self.reading_paused:
            self.transport.resume_reading()
            self.reading_paused = False
        data, self.buf = bytes(self.buf), b""
        return streams_for(self.transport, data, self.eof, self.ctx.limits.http.max_head)

    def _hand_head(self) -> None:
        """Let the stream code serve this connection from the next request head on."""
        reader, writer = self._to_streams()
        conn = StreamConn(self.ctx, reader, writer)
        conn.first = self.first
        self.ctx.spawn(conn.run())

    def _hand_close(self) -> None:
        """Close after the last response without losing it (see `connection.linger`)."""
        if self.closed or self.handed:
            return
        reader, writer = self._to_streams()
        self.ctx.spawn(linger(reader, writer))

    def _hand_response(self, head_end: int) -> None:
        """Relay this response, and serve the connection after it, with the stream code."""
        self.batch.flush()
        upstream, self.upstream = self.upstream, None
        assert upstream is not None and upstream.transport is not None
        assert self.request is not None and self.plan is not None
        upstream.owner = None
        data, rest = self.ubuf[:head_end], self.ubuf[head_end:]
        self.ubuf = b""
        limit = self.ctx.limits.http.max_head
        up_reader, up_writer = streams_for(upstream.transport, rest, False, limit)
        reader, writer = self._to_streams()
        conn = StreamConn(self.ctx, reader, writer)
        conn.first = False
        conn.upstream = up_writer
        # Still waiting for the upstream (a 1xx may come first): without this the new
        # connection sat in stage HEAD with deadline 0, and the sweeper closed it within
        # 0.25 s (issue 9 defect 3: `103` then `200` 0.5 s later was never answered).
        conn.stage = Stage.UPSTREAM
        conn.deadline = self.loop.time() + self.ctx.limits.response_timeout
        relay = conn.relay_response(self.request.head(), self.plan, (up_reader, up_writer), data)
        self.ctx.spawn(conn.run(relay))
