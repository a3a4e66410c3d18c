"""The stream path: StreamReader/Writer coroutines for every exchange the fast path does
not take (CONNECT tunnels, request bodies, Expect, upgrades, HTTPS upstreams, chunked or
close-delimited responses, requests for the proxy itself, malformed input).

Rule 1: this module moves bytes and keeps the connection's stage and deadline current (the
server's sweeper enforces them). What to do with a request comes from the `Planner`
(`exchange`), local pages from `pac`, error answers from `responses`.
Rule 2: every failure of a client or an upstream becomes an answer (400/431/502/504/508)
or a closed connection, never an exception out of `run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Coroutine

from trackguard.proxy.connection import (
    COPY_SIZE,
    ClientGone,
    Context,
    Stage,
    UpstreamGone,
    close_softly,
    linger,
)
from trackguard.proxy.exchange import HeadRequest, Plan
from trackguard.proxy.framing import BodyLimits, ChunkedDecoder
from trackguard.proxy.http1 import (
    Framing,
    HttpError,
    RequestHead,
    Target,
    keep_alive,
    parse_absolute_target,
    parse_request_head,
    parse_response_head,
    request_framing,
    serialize_head,
    split_host_port,
)
from trackguard.proxy.pac import local_response
from trackguard.proxy.pool import Stream
from trackguard.proxy.resolve import Cloaked
from trackguard.proxy.responses import CONTINUE, TUNNEL_ESTABLISHED, error_response

logger = logging.getLogger("trackguard.proxy")


async def accept(ctx: Context, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve a new connection, or refuse it: 403 outside `allow_from`, 503 when full."""
    task = asyncio.current_task()
    if task is not None:
        ctx.tasks.add(task)
    try:
        if not ctx.client_allowed(writer.get_extra_info("peername")):
            writer.write(error_response(403, "client address not in --allow-from"))
            await linger(reader, writer)
            return
        if len(ctx.conns) >= ctx.limits.max_connections or ctx.closing:
            writer.write(error_response(503, "too many connections"))
            await linger(reader, writer)
            return
        await StreamConn(ctx, reader, writer).run()
    finally:
        if task is not None:
            ctx.tasks.discard(task)


#: Largest request body the proxy reads for its own pages (the dashboard's actions).
MAX_LOCAL_BODY = 64 * 1024


class StreamConn:
    """One client connection and, while a request is in flight, its upstream."""

    __slots__ = ("ctx", "deadline", "first", "reader", "stage", "timed_out", "upstream", "writer")

    def __init__(
        self, ctx: Context, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.ctx = ctx
        self.reader = reader
        self.writer = writer
        self.deadline = 0.0
        self.stage = Stage.HEAD
        self.first = True
        self.timed_out = False
        self.upstream: asyncio.StreamWriter | None = None

    def expire(self) -> None:
        """Called by the sweeper when the deadline passed."""
        self.timed_out = True
        if self.stage is Stage.HEAD:
            if self.first:
                with contextlib.suppress(Exception):
                    self.writer.write(error_response(408, "request head not received in time"))
            close_softly(self.writer)
        elif self.stage is Stage.UPSTREAM and self.upstream is not None:
            # The handler sees the upstream die and answers 504 itself.
            self.upstream.transport.abort()
        else:
            self.abort()

    def close_idle(self) -> None:
        """Shutdown: close now if no request is in flight."""
        if self.stage is Stage.HEAD:
            close_softly(self.writer, 0.5)

    def abort(self) -> None:
        self.writer.transport.abort()
        if self.upstream is not None:
            self.upstream.transport.abort()

    # -- the connection ----------------------------------------------------------------

    async def run(self, resume: Coroutine[object, object, bool] | None = None) -> None:
        """Serve a connection with streams; `resume` first finishes a request in flight
        (a connection the fast path handed over, see `fastconn`)."""
        task = asyncio.current_task()
        if task is not None:
            self.ctx.tasks.add(task)
        self.ctx.conns.add(self)
        try:
            if resume is None or await resume:
                await self.serve()
        except (ClientGone, ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            logger.exception("connection handler failed")
        finally:
            if resume is not None:
                resume.close()  # never awaited when the handler failed early
            self.ctx.conns.discard(self)
            if self.upstream is not None:
                self.upstream.transport.abort()
            await linger(self.reader, self.writer)
            if task is not None:
                self.ctx.tasks.discard(task)

    # -- request loop ------------------------------------------------------------------

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        limits = self.ctx.limits
        reader = self.reader
        while not self.ctx.closing:
            self.stage = Stage.HEAD
            self.deadline = loop.time() + (
                limits.head_timeout if self.first else limits.idle_timeout
            )
            try:
                data = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip() and not self.timed_out:
                    await self.send(error_response(400, "incomplete request head"))
                return
            except asyncio.LimitOverrunError:
                await self.send(error_response(431, "request head too large"))
                return
            if self.timed_out:
                return
            self.first = False
            self.stage = Stage.BODY
            self.deadline = loop.time() + limits.idle_timeout
            try:
                head = parse_request_head(data.lstrip(b"\r\n"), limits.http)
            except HttpError as exc:
                await self.send(error_response(exc.status, exc.message))
                return
            self.ctx.requests += 1
            try:
                keep = await self.dispatch(head)
            except HttpError as exc:
                await self.send(error_response(exc.status, exc.message))
                return
            if not keep:
                return

    async def send(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise ClientGone from exc

    async def dispatch(self, head: RequestHead) -> bool:
        if head.method == "CONNECT":
            await self.tunnel(head)
            return False
        target = head.target
        if target.startswith("/") or target == "*":
            return await self.local(head, target)
        parsed = parse_absolute_target(target)
        if self.ctx.is_self(parsed.host, parsed.port):
            return await self.local(head, parsed.path)
        return await self.forward(head, parsed)

    # -- requests to the proxy itself --------------------------------------------------

    async def local(self, head: RequestHead, path: str) -> bool:
        framing, length = request_framing(head)
        keep = keep_alive(head.version, head.headers) and framing is Framing.NONE
        ctx = self.ctx
        app = ctx.local_app
        if app is not None and app.wants(path.split("?", 1)[0]):
            # The dashboard (`web/`): small bodies only (its actions are a few JSON fields).
            if framing is Framing.CHUNKED or length > MAX_LOCAL_BODY:
                await self.send(error_response(413, "request body too large for the dashboard"))
                return False
            body = await self.reader.readexactly(length) if length else b""
            lower = {name.lower(): value for name, value in reversed(head.headers)}
            keep = keep_alive(head.version, head.headers)
            return await app.serve(head.method, path, lower, body, self.send, keep=keep)
        answer = local_response(
            head, path, ctx.host, ctx.port, fallback_direct=ctx.pac_fallback_direct, keep=keep
        )
        await self.send(answer)
        return keep

    # -- CONNECT tunnels ---------------------------------------------------------------

    async def tunnel(self, head: RequestHead) -> None:
        host, port = split_host_port(head.target, 443)
        plan = self.ctx.planner.tunnel(host)
        if plan.response is not None:
            await self.send(plan.response)
            return
        if self.ctx.is_self(host, port):
            await self.send(error_response(508, "the proxy will not tunnel to itself"))
            return
        upstream = await self.open("tcp", host, port, kind="tunnel")
        if upstream is None:
            return
        await self.send(TUNNEL_ESTABLISHED)
        await self.pipe(upstream)

    async def pipe(self, upstream: Stream) -> None:
        """Move bytes both ways until both sides are done; idle deadline applies."""
        self.stage = Stage.TUNNEL
        loop = asyncio.get_running_loop()
        idle = self.ctx.limits.tunnel_idle_timeout
        self.deadline = loop.time() + idle

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while True:
                    data = await src.read(COPY_SIZE)
                    if not data:
                        break
                    self.deadline = loop.time() + idle
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof() and not dst.is_closing():
                    dst.write_eof()
            except (ConnectionError, RuntimeError, OSError):
                self.writer.transport.abort()
                upstream[1].transport.abort()

        await asyncio.gather(copy(self.reader, upstream[1]), copy(upstream[0], self.writer))
        upstream[1].transport.abort()

    # -- upstream connections ----------------------------------------------------------

    async def open(self, scheme: str, host: str, port: int, *, kind: str = "http") -> Stream | None:
        """Connect, answering 502/504/508 to the client itself on failure (then None)."""
        loop = asyncio.get_running_loop()
        self.stage = Stage.UPSTREAM
        self.deadline = loop.time() + self.ctx.limits.connect_timeout + 1
        tls = self.ctx.tls if scheme == "https" else None
        try:
            address = await self.ctx.upstream_address(host)
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    address,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                    limit=self.ctx.limits.http.max_head,
                ),
                self.ctx.limits.connect_timeout,
            )
        except Cloaked as exc:
            await self.send(self.ctx.planner.cloaked(host, exc.verdict, kind))
            return None
        except TimeoutError:
            await self.send(error_response(504, f"timed out connecting to {host}:{port}"))
            return None
        except socket.gaierror:
            await self.send(error_response(502, f"cannot resolve host {host}"))
            return None
        except ConnectionRefusedError:
            await self.send(error_response(502, f"connection refused by {host}:{port}"))
            return None
        except ssl.SSLError as exc:
            await self.send(error_response(502, f"TLS error with {host}: {exc.reason}"))
            return None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            await self.send(error_response(502, f"cannot connect to {host}:{port}: {reason}"))
            return None
        if self.ctx.is_loop(writer.transport):
            writer.transport.abort()
            await self.send(error_response(508, "the proxy will not relay to itself"))
            return None
        self.upstream = writer
        return reader, writer

    async def forward(self, head: RequestHead, target: Target) -> bool:
        loop = asyncio.get_running_loop()
        framing, length = request_framing(head)
        key = (target.scheme, target.host.lower(), target.port)
        ctx = self.ctx
        plan = ctx.planner.request(
            HeadRequest(head, target), key, framing, length=length, closing=ctx.closing
        )
        if plan.response is not None:
            await self.send(plan.response)
            return not plan.close
        client_keep = plan.client_keep
        # A pooled connection may have been closed by the upstream a moment ago; a request
        # without a body can safely be retried once on a fresh connection.
        for attempt in (0, 1):
            pooled = self.ctx.pool.get(key) if attempt == 0 else None
            if pooled is not None:
                self.upstream = pooled[1]
                upstream = pooled
            else:
                opened = await self.open(target.scheme, target.host, target.port)
                if opened is None:
                    return framing is Framing.NONE and client_keep
                upstream = opened
            self.stage = Stage.UPSTREAM
            self.deadline = loop.time() + self.ctx.limits.response_timeout
            try:
                upstream[1].write(plan.request)
                if framing is not Framing.NONE:
                    if plan.expect and head.version == "HTTP/1.1":
                        await self.send(CONTINUE)
                    self.stage = Stage.BODY
                    await self.copy_body(
                        self.reader, upstream[1], framing, length, client_side=True
                    )
                    self.stage = Stage.UPSTREAM
                    self.deadline = loop.time() + self.ctx.limits.response_timeout
                else:
                    await upstream[1].drain()
                data = await upstream[0].readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                upstream[1].transport.abort()
                self.upstream = None
                if self.timed_out:
                    self.timed_out = False
                    await self.send(error_response(504, f"{target.host} did not answer in time"))
                    return False
                partial = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
                if pooled is not None and not partial and framing is Framing.NONE:
                    continue
                await self.send(
                    error_response(502, f"{target.host} closed the connection without a response"),
                )
                return False
            except asyncio.LimitOverrunError:
                upstream[1].transport.abort()
                self.upstream = None
                await self.send(error_response(502, "upstream response head too large"))
                return False
        else:  # pragma: no cover - the loop always breaks or returns
            return False

        return await self.relay_response(head, plan, upstream, data)

    async def relay_response(
        self,
        head: RequestHead,
        plan: Plan,
        upstream: Stream,
        data: bytes,
    ) -> bool:
        loop = asyncio.get_running_loop()
        while True:
            try:
                response = parse_response_head(data, self.ctx.limits.http)
            except HttpError as exc:
                upstream[1].transport.abort()
                self.upstream = None
                await self.send(error_response(exc.status, exc.message))
                return False
            if response.status == 101 and plan.is_upgrade:
                headers = [(k, v) for k, v in response.headers]
                await self.send(serialize_head(f"HTTP/1.1 101 {response.reason}", headers))
                await self.pipe(upstream)
                return False
            if response.status >= 200:
                break
            # Interim responses (100, 103): ours already answered Expect; drop them.
            try:
                data = await upstream[0].readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                upstream[1].transport.abort()
                self.upstream = None
                await self.send(error_response(502, "upstream closed after 1xx"))
                return False

        try:
            relay = self.ctx.planner.response_head(response, head, plan)
        except HttpError as exc:
            upstream[1].transport.abort()
            self.upstream = None
            await self.send(error_response(exc.status, exc.message))
            return False
        response_head, framing, length = relay.head, relay.framing, relay.length
        self.stage = Stage.BODY
        self.deadline = loop.time() + self.ctx.limits.idle_timeout
        if framing is Framing.LENGTH and length <= COPY_SIZE:
            # Small bodies usually arrived with the head: send head and body in one write
            # (one syscall fewer per request, the common case for trackers and pages).
            buffered = getattr(upstream[0], "_buffer", b"")
            if len(buffered) >= length:
                response_head += await upstream[0].readexactly(length)
                framing = Framing.NONE
        self.writer.write(response_head)
        try:
            if framing is not Framing.NONE:
                await self.copy_body(
                    upstream[0],
                    self.writer,
                    framing,
                    length,
                    client_side=False,
                    dechunk=relay.dechunk,
                )
            else:
                await self.drain_client()
        except UpstreamGone:
            upstream[1].transport.abort()
            self.upstream = None
            return False  # the client sees a truncated body and a closed connection
        self.upstream = None
        if relay.upstream_keep and not self.ctx.closing:
            self.ctx.pool.put(plan.key, upstream, loop.time())
        else:
            upstream[1].transport.abort()
        return relay.keep

    async def drain_client(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise ClientGone from exc

    async def copy_body(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        framing: Framing,
        length: int,
        *,
        client_side: bool,
        dechunk: bool = False,
    ) -> None:
        """Stream one body from `src` to `dst`, never holding more than one chunk, waiting
        for `dst` after every write (a peer that does not read stops the copy, issue 9).

        `client_side`: the body comes from the client (an early EOF means the client went
        away); otherwise from the upstream (an early EOF truncates the response).
        """
        loop = asyncio.get_running_loop()
        idle = self.ctx.limits.idle_timeout
        gone: type[Exception] = ClientGone if client_side else UpstreamGone

        async def write(data: bytes) -> None:
            dst.write(data)
            try:
                await dst.drain()
            except (ConnectionError, RuntimeError) as exc:
                raise (UpstreamGone if client_side else ClientGone) from exc

        try:
            if framing is Framing.LENGTH:
                remaining = length
                while remaining:
                    data = await src.read(min(COPY_SIZE, remaining))
                    if not data:
                        raise gone("body ended early")
                    remaining -= len(data)
                    self.deadline = loop.time() + idle
                    await write(data)
            elif framing is Framing.CLOSE:
                while True:
                    data = await src.read(COPY_SIZE)
                    if not data:
                        break
                    self.deadline = loop.time() + idle
                    await write(data)
            elif framing is Framing.CHUNKED:
                # Parsed strictly and written again in canonical form (framing.py): no
                # framing byte a peer wrote passes through, trailers are capped and dropped.
                decoder = ChunkedDecoder(
                    reframe=not dechunk,
                    status=400 if client_side else 502,
                    limits=BodyLimits(max_chunk_line=self.ctx.limits.http.max_chunk_line),
                )
                while not decoder.done:
                    if decoder.wants_line:
                        data = await src.readuntil(b"\n")  # one line, capped by the limit
                    else:
                        data = await src.read(min(COPY_SIZE, decoder.wants))
                        if not data:
                            raise gone("chunked body ended early")
                    self.deadline = loop.time() + idle
                    out = decoder.feed(data)
                    if out:
                        await write(out[0] if len(out) == 1 else b"".join(out))
        except asyncio.IncompleteReadError as exc:
            raise gone("body ended early") from exc
        except asyncio.LimitOverrunError as exc:
            raise gone("chunk line too long") from exc
        except HttpError as exc:
            raise gone(exc.message) from exc
