"""Hostile upstreams and smuggling clients (issue 9): each defect on raw loopback sockets,
on the fast path and the general (stream) path, with asyncio's loop and uvloop.

The upstream here is a script, not an HTTP server: it reads what the proxy sends and
writes exactly the bytes a test gives it, however malformed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from proxy_helpers import LoopThread, make_matcher

from trackguard.policy.decide import PolicyConfig
from trackguard.proxy.server import ProxyServer, ProxyState, ServerLimits

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Hostile:
    """An upstream that runs `scripts[path]` for each request head it reads."""

    scripts: dict[str, Script] = field(default_factory=dict)
    received: list[bytes] = field(default_factory=list)  # all bytes, per connection
    port: int = 0
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.received)
        self.received.append(b"")
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.received[index] += head
            path = head.split(b" ", 2)[1].decode()
            script = self.scripts.get(path)
            if script is None:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            else:
                await script(reader, writer)
            await writer.drain()
            # Record whatever else the proxy sends (bodies, smuggled requests) for a moment.
            async with asyncio.timeout(0.5):
                while data := await reader.read(65536):
                    self.received[index] += data
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.transport.abort()


@dataclass
class Rig:
    loop: LoopThread
    proxy: ProxyServer
    upstream: Hostile

    def url(self, path: str) -> str:
        return f"http://origin.test:{self.upstream.port}{path}"

    def script(self, path: str) -> Callable[[Script], Script]:
        def register(fn: Script) -> Script:
            self.upstream.scripts[path] = fn
            return fn

        return register

    def exchange(
        self, data: bytes, *, wait: float = 8.0, quiet: float = 1.0, read: bool = True
    ) -> bytes:
        """Send raw bytes to the proxy; what it answers until it closes, stays silent for
        `quiet` seconds after answering, or `wait` seconds pass."""
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=wait) as s:
            s.sendall(data)
            out = b""
            end = time.monotonic() + wait
            try:
                while read and time.monotonic() < end:
                    s.settimeout(quiet if out else max(0.1, end - time.monotonic()))
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except (TimeoutError, ConnectionResetError):
                pass
            return out

    def get(self, path: str, *, wait: float = 8.0, quiet: float = 1.0) -> bytes:
        request = f"GET {self.url(path)} HTTP/1.1\r\nHost: origin.test\r\n\r\n".encode()
        return self.exchange(request, wait=wait, quiet=quiet)


LIMITS = ServerLimits(response_timeout=5.0, idle_timeout=3.0, shutdown_grace=0.5)


@pytest.fixture(
    scope="module",
    params=[("fast", "asyncio"), ("general", "asyncio"), ("fast", "uvloop"), ("general", "uvloop")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    path, loop_kind = request.param
    if loop_kind == "uvloop":
        pytest.importorskip("uvloop")
    old = os.environ.get("TRACKGUARD_TEST_UVLOOP")
    os.environ["TRACKGUARD_TEST_UVLOOP"] = "1" if loop_kind == "uvloop" else "0"
    try:
        loop = LoopThread()
    finally:
        if old is None:
            del os.environ["TRACKGUARD_TEST_UVLOOP"]
        else:
            os.environ["TRACKGUARD_TEST_UVLOOP"] = old
    upstream = Hostile()
    loop.run(upstream.start())
    proxy = ProxyServer(
        ProxyState(make_matcher(), PolicyConfig()),
        host="127.0.0.1",
        port=0,
        limits=LIMITS,
        connect_to={"origin.test": "127.0.0.1"},
        fast_path=path == "fast",
    )
    loop.run(proxy.start())
    yield Rig(loop, proxy, upstream)
    loop.run(proxy.close())
    loop.stop()


def status_lines(data: bytes) -> int:
    return data.count(b"HTTP/1.1 ")


# -- defect 1: unbounded trailers --------------------------------------------------------


def test_trailer_flood_is_cut_off(rig: Rig) -> None:
    sent = [0]

    @rig.script("/trailers")
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
        line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
        for _ in range(4000):  # 4 MB of trailer lines, unless the proxy hangs up
            writer.write(line * 16)
            sent[0] += 16
            await writer.drain()

    out = rig.get("/trailers", wait=10)
    assert out.startswith(b"HTTP/1.1 200")
    assert len(out) < 32 * 1024, len(out)  # before: every trailer line was relayed
    assert b"X-Pad" not in out
    assert sent[0] < 4000 * 16  # the proxy closed the upstream


# -- defect 2: smuggling and response injection ---------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"2;x\nGET /tracker-path HTTP/1.1\r\nHost: origin.test\r\n\r\n\r\n0\r\n\r\n",
        b"5\r\nhelloGET /tracker-path HTTP/1.1\r\nHost: origin.test\r\n\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX: 1\nGET /tracker-path HTTP/1.1\r\n\r\n\r\n",
    ],
)
def test_smuggled_request_never_reaches_the_upstream(rig: Rig, body: bytes) -> None:
    @rig.script("/upload")
    async def upload(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    before = len(rig.upstream.received)
    head = (
        f"POST {rig.url('/upload')} HTTP/1.1\r\nHost: origin.test\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    out = rig.exchange(head + body, wait=5)
    assert out.startswith(b"HTTP/1.1 400") or out == b"" or out.startswith(b"HTTP/1.1 200")
    time.sleep(0.7)
    sent = b"".join(rig.upstream.received[before:])
    assert b"tracker-path" not in sent, sent


def test_chunked_request_body_is_reframed(rig: Rig) -> None:
    @rig.script("/echo")
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    before = len(rig.upstream.received)
    request = (
        f"POST {rig.url('/echo')} HTTP/1.1\r\nHost: origin.test\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "0005;name=value\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"
    ).encode()
    out = rig.exchange(request, wait=5)
    assert out.startswith(b"HTTP/1.1 200")
    time.sleep(0.7)
    sent = b"".join(rig.upstream.received[before:])
    assert sent.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), sent


@pytest.mark.parametrize(
    "body",
    [
        b"2\r\nok\r\n0\r\nX: 1\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged\r\n\r\n",
        b"2;x\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged\r\n0\r\n\r\n",
        b"2\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged0\r\n\r\n",
    ],
)
def test_forged_response_is_never_delivered(rig: Rig, body: bytes) -> None:
    path = f"/forge{abs(hash(body))}"

    @rig.script(path)
    async def forge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)

    # A second request pipelined on the same client connection must never be answered by
    # the forged bytes.
    one = f"GET {rig.url(path)} HTTP/1.1\r\nHost: origin.test\r\n\r\n"
    two = f"GET {rig.url('/missing')} HTTP/1.1\r\nHost: origin.test\r\n\r\n"
    out = rig.exchange((one + two).encode(), wait=5)
    assert b"forged" not in out, out
    assert status_lines(out) <= 2


# -- defect 3: 1xx before the response --------------------------------------------------


def test_early_hints_then_response(rig: Rig) -> None:
    @rig.script("/hints")
    async def hints(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    for _ in range(2):
        out = rig.get("/hints", wait=6, quiet=1.0)  # the 200 comes 0.5 s after the 103
        assert out.startswith(b"HTTP/1.1 200"), out[:80]  # before: fast path, 0 of 10
        assert out.endswith(b"\r\n\r\nok")


# -- defect 4: framing fields --------------------------------------------------------------


def _respond(head: bytes, body: bytes = b"") -> Script:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(head + body)

    return script


def test_content_length_with_chunked_is_dropped(rig: Rig) -> None:
    rig.upstream.scripts["/both"] = _respond(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"2\r\nok\r\n0\r\n\r\n",
    )
    out = rig.get("/both", wait=3)
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-length" not in head.lower(), head
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"2\r\nok\r\n0\r\n\r\n"


def test_gzip_transfer_coding_is_kept(rig: Rig) -> None:
    import gzip

    packed = gzip.compress(b"hello")
    rig.upstream.scripts["/gz"] = _respond(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(packed), packed),
    )
    out = rig.get("/gz", wait=3)
    head = out.partition(b"\r\n\r\n")[0]
    assert b"Transfer-Encoding: gzip, chunked" in head, head  # before: relabelled chunked


def test_oversized_response_head_is_refused_on_both_paths(rig: Rig) -> None:
    rig.upstream.scripts["/bighead"] = _respond(
        b"HTTP/1.1 200 OK\r\n" + (b"X-Big: " + b"a" * 4000 + b"\r\n") * 30 + b"\r\n"
    )
    out = rig.get("/bighead", wait=5)
    assert out.startswith(b"HTTP/1.1 502"), out[:60]  # before: fast path relayed 120 KB


def test_request_content_length_list_is_normalised(rig: Rig) -> None:
    @rig.script("/len")
    async def length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    before = len(rig.upstream.received)
    request = (
        f"POST {rig.url('/len')} HTTP/1.1\r\nHost: origin.test\r\n"
        "Content-Length: 4, 4\r\nConnection: close\r\n\r\nbody"
    ).encode()
    assert rig.exchange(request, wait=5).startswith(b"HTTP/1.1 200")
    time.sleep(0.7)
    sent = b"".join(rig.upstream.received[before:])
    assert b"Content-Length: 4\r\n" in sent and b"4, 4" not in sent, sent


# -- defect 5: Unicode digits ------------------------------------------------------------


def test_unicode_digits_get_an_answer_at_once(rig: Rig) -> None:
    started = time.monotonic()
    request = f"POST {rig.url('/len')} HTTP/1.1\r\nContent-Length: ²\r\n\r\n".encode("latin-1")
    out = rig.exchange(request, wait=5)
    assert out.startswith(b"HTTP/1.1 400"), out[:60]
    rig.upstream.scripts["/sq"] = _respond(
        "HTTP/1.1 200 OK\r\nContent-Length: ²\r\n\r\n".encode("latin-1")
    )
    assert rig.get("/sq", wait=5).startswith(b"HTTP/1.1 502")
    assert time.monotonic() - started < 9  # before: no answer, the client waited 60 s


# -- defect 6: IPv4-mapped self-loop ----------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "general"])
def test_ipv4_mapped_address_of_the_proxy_is_refused(fast: bool) -> None:
    loop = LoopThread()
    proxy = ProxyServer(
        ProxyState(make_matcher(), PolicyConfig()),
        host="0.0.0.0",
        port=0,
        limits=LIMITS,
        fast_path=fast,
    )
    loop.run(proxy.start())
    try:
        port = proxy.port
        for request in (
            f"CONNECT [::ffff:127.0.0.2]:{port} HTTP/1.1\r\nHost: x\r\n\r\n",
            f"CONNECT [::ffff:7f00:2]:{port} HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(request.encode())
                out = s.recv(4096)
            assert out.startswith(b"HTTP/1.1 508"), out[:60]  # before: 200, a tunnel to itself
    finally:
        loop.run(proxy.close())
        loop.stop()


def test_request_transfer_codings_are_kept(rig: Rig) -> None:
    @rig.script("/gzup")
    async def gzup(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    before = len(rig.upstream.received)
    request = (
        f"POST {rig.url('/gzup')} HTTP/1.1\r\nHost: origin.test\r\n"
        "Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
    ).encode()
    assert rig.exchange(request, wait=5).startswith(b"HTTP/1.1 200")
    time.sleep(0.7)
    sent = b"".join(rig.upstream.received[before:])
    assert b"Transfer-Encoding: gzip, chunked\r\n" in sent, sent


# -- defect 9: no credentialed CORS on blocked answers ------------------------------------


def test_blocked_answers_never_grant_credentialed_cors(rig: Rig) -> None:
    request = (
        b"POST http://tracker.test/collect HTTP/1.1\r\nHost: tracker.test\r\n"
        b"Origin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: cors\r\n"
        b"Sec-Fetch-Dest: empty\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    out = rig.exchange(request, wait=5)
    head = out.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 204") and b"x-trackguard-blocked" in head
    assert b"access-control-allow-credentials" not in head  # before: `true`, Origin echoed
    assert b"evil.example" not in head
