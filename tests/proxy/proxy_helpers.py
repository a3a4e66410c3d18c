"""Test helpers for the proxy: a small matcher, a recording origin server, a loop thread.

Everything listens on 127.0.0.1 only, on ports the OS picks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Coroutine, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import pytest

from trackguard.domain import host_suffixes, site_of, split_url
from trackguard.model import Action, Decision, Format, HostMode, RequestType, Rule, SourceRef
from trackguard.policy.decide import PolicyConfig
from trackguard.policy.signals import SignalPlan
from trackguard.proxy.http1 import Limits
from trackguard.proxy.log import DecisionLog
from trackguard.proxy.server import ProxyServer, ProxyState, ServerLimits

T = TypeVar("T")


class FakeMatcher:
    """A tiny matcher implementing the engine contract for a TPL-like subset.

    `-d host` blocks third-party requests whose host contains those labels (TPL §A.5.1,
    simplified to suffixes), `-d host pattern` adds a substring, `- text` blocks URLs
    containing text, `+d host` allows, `$removeparam=name` strips a parameter. It exists so
    the policy and server can be tested without depending on the real engine; the running
    proxy in the end-to-end tests always uses the real engine (see `make_matcher`).
    """

    def __init__(self, text: str, list_id: str = "test.tpl") -> None:
        self.blocks: list[tuple[str, str, Rule]] = []
        self.allows: list[tuple[str, Rule]] = []
        self.params: list[tuple[str, Rule]] = []
        self.calls = 0
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            src = SourceRef(list_id, number, line)
            if line.startswith("-d "):
                parts = line[3:].split(None, 1)
                rule = Rule(Action.BLOCK, src, Format.TPL, host=parts[0], host_mode=HostMode.LABELS)
                self.blocks.append((parts[0], parts[1] if len(parts) > 1 else "", rule))
            elif line.startswith("- "):
                rule = Rule(Action.BLOCK, src, Format.TPL, pattern=line[2:])
                self.blocks.append(("", line[2:], rule))
            elif line.startswith("+d "):
                rule = Rule(Action.ALLOW, src, Format.TPL, host=line[3:], host_mode=HostMode.SUFFIX)
                self.allows.append((line[3:], rule))
            elif line.startswith("$removeparam="):
                rule = Rule(Action.BLOCK, src, Format.ABP, removeparam=line[13:])
                self.params.append((line[13:], rule))

    def check(
        self, url: str, source_url: str | None = None, type: str | RequestType = "other"
    ) -> Decision:
        self.calls += 1
        parts = split_url(url)
        if source_url is not None and site_of(split_url(source_url).host) == site_of(parts.host):
            return Decision(False, reason="first-party")
        suffixes = set(host_suffixes(parts.host))
        block = None
        for host, pattern, rule in self.blocks:
            if (not host or host in suffixes) and (not pattern or pattern in parts.text):
                block = rule
                break
        if block is None:
            return Decision(False, reason="no rule")
        for host, rule in self.allows:
            if host in suffixes:
                return Decision(False, matched=rule, overridden=block, reason="allowed")
        return Decision(True, matched=block, reason="blocked")

    def check_host(self, host: str) -> Decision:
        suffixes = set(host_suffixes(host))
        for h, pattern, rule in self.blocks:
            if h and not pattern and h in suffixes:
                for allow_host, allow in self.allows:
                    if allow_host in suffixes:
                        return Decision(False, matched=allow, overridden=rule)
                return Decision(True, matched=rule)
        return Decision(False)

    def removeparam(
        self, url: str, source_url: str | None = None, type: str | RequestType = "other"
    ) -> tuple[str, tuple[Rule, ...]]:
        if "?" not in url or not self.params:
            return url, ()
        base, query = url.split("?", 1)
        pairs = parse_qsl(query, keep_blank_values=True)
        used = tuple(rule for name, rule in self.params if any(k == name for k, _ in pairs))
        if not used:
            return url, ()
        names = {name for name, _ in self.params}
        kept = [(k, v) for k, v in pairs if k not in names]
        return (base + ("?" + urlencode(kept) if kept else "")), used


TPL_LIST = """msFilterList
# Title: proxy test list
-d tracker.test
-d ads.test /banner/
+d partner.test
"""
ABP_LIST = """[Adblock Plus 2.0]
$removeparam=utm_source
"""


def make_matcher(
    lists: Iterable[tuple[str, str]] = (("test.tpl", TPL_LIST), ("params.txt", ABP_LIST)),
) -> Any:
    """The real engine built from `lists`.

    Never falls back to `FakeMatcher`: a broken engine must fail the proxy tests, not turn
    them into tests of the fake (issue 17, point 2). Tests that want the fake ask for it.
    """
    from trackguard.engine import Engine
    from trackguard.model import ListSource

    return Engine.from_sources([ListSource(list_id, text) for list_id, text in lists])


# -- a recording origin server ------------------------------------------------------------


@dataclass
class Seen:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body_length: int = 0

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Origin:
    """A small HTTP/1.1 server that records every request it receives."""

    name: str
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(x.split(": ", 1)) for x in lines[1:] if x]
                seen = Seen(method, target, [(k, v) for k, v in headers])
                hl = {k.lower(): v for k, v in headers}
                digest = hashlib.sha256()
                if "content-length" in hl:
                    remaining = int(hl["content-length"])
                    while remaining:
                        chunk = await reader.read(min(remaining, 65536))
                        if not chunk:
                            return
                        digest.update(chunk)
                        remaining -= len(chunk)
                        seen.body_length += len(chunk)
                elif hl.get("transfer-encoding", "").lower() == "chunked":
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                        if size == 0:
                            await reader.readuntil(b"\r\n")
                            break
                        data = await reader.readexactly(size + 2)
                        digest.update(data[:-2])
                        seen.body_length += size
                self.seen.append(seen)
                if not await self._respond(writer, seen, digest.hexdigest()):
                    writer.close()
                    return
        finally:
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, seen: Seen, digest: str) -> bool:
        path = seen.target.split("?")[0]
        ctype, body = "text/plain", f"{self.name} ok {seen.target}".encode()
        extra = ""
        if path.endswith(".html"):
            ctype, body = "text/html; charset=utf-8", f"<p>{self.name}</p>".encode()
        elif path.endswith(".js"):
            ctype, body = "application/javascript", b"window.loaded = true;"
        elif path == "/headers":
            ctype, body = "application/json", json.dumps(seen.headers).encode()
        elif path == "/upload":
            body = json.dumps({"length": seen.body_length, "sha256": digest}).encode()
        elif path.startswith("/big"):
            body = b"x" * int(seen.target.split("n=")[1])
        elif path == "/gzip":
            body = gzip.compress(b"compressed " * 100)
            extra = "Content-Encoding: gzip\r\n"
        elif path == "/chunked":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
            await writer.drain()
            return True
        elif path == "/close":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
            await writer.drain()
            return False
        elif path == "/slow":
            await asyncio.sleep(5)
        elif path == "/hangup":
            return False
        elif path == "/redirect":
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: /page.html\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return True
        status = "200 OK"
        writer.write(
            (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{extra}"
                "Access-Control-Allow-Origin: *\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + (b"" if seen.method == "HEAD" else body)
        )
        await writer.drain()
        return True


class LoopThread:
    """An asyncio loop in a background thread, for driving blocking clients (httpx, curl)."""

    def __init__(self) -> None:
        # TRACKGUARD_TEST_UVLOOP=1 runs the proxy tests on uvloop, as `trackguard proxy` runs.
        self.loop: asyncio.AbstractEventLoop
        if os.environ.get("TRACKGUARD_TEST_UVLOOP") == "1":
            import uvloop

            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def call(self, fn: Any, *args: Any) -> None:
        async def wrapper() -> None:
            fn(*args)

        self.run(wrapper())

    def stop(self) -> None:
        """Cancel what still runs (origin handlers of kept-alive connections), then stop:
        a handler left suspended would be closed later by the garbage collector, on a
        loop that no longer runs."""

        async def cancel_the_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):  # stopping anyway; the loop may be wedged
            self.run(cancel_the_rest(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def hosts_map(names: Iterable[str]) -> dict[str, str]:
    return dict.fromkeys(names, "127.0.0.1")


# -- a running proxy with its origins -----------------------------------------------------

TEST_HOSTS = (
    "site.test",
    "www.site.test",
    "tracker.test",
    "cdn.tracker.test",
    "cdn.test",
    "partner.test",
    "ads.test",
    "other.test",
)


@dataclass
class Net:
    """A running proxy plus three origins: the site, a tracker and a neutral CDN."""

    loop: LoopThread
    proxy: ProxyServer
    site: Origin
    tracker: Origin
    cdn: Origin
    log: DecisionLog | None

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def url(self, host: str, path: str = "/") -> str:
        origin = (
            self.tracker
            if "tracker" in host or "ads" in host
            else (self.site if "site" in host else self.cdn)
        )
        return f"http://{host}:{origin.port}{path}"

    def configure(self, **changes: Any) -> None:
        state = self.proxy.state
        config = PolicyConfig(**{**_config_dict(state.config), **changes})
        self.loop.call(setattr, state, "config", config)

    def reset(self) -> None:
        for origin in (self.site, self.tracker, self.cdn):
            origin.seen.clear()
        self.configure(
            protection=True,
            exempt_sites=frozenset(),
            user_allow=frozenset(),
            user_block=frozenset(),
            signals=SignalPlan(),
        )


def _config_dict(config: PolicyConfig) -> dict[str, Any]:
    return {
        "protection": config.protection,
        "exempt_sites": config.exempt_sites,
        "user_allow": config.user_allow,
        "user_block": config.user_block,
        "signals": config.signals,
    }


def start_proxy(
    loop: LoopThread,
    *,
    limits: ServerLimits | None = None,
    log: DecisionLog | None = None,
    matcher: Any = None,
    fast_path: bool = True,
) -> ProxyServer:
    state = ProxyState(matcher or make_matcher(), PolicyConfig())
    proxy = ProxyServer(
        state,
        host="127.0.0.1",
        port=0,
        limits=limits,
        log=log,
        connect_to=hosts_map(TEST_HOSTS),
        fast_path=fast_path,
    )
    loop.run(proxy.start())
    return proxy


HOSTILE_LIMITS = ServerLimits(
    http=Limits(max_line=1024, max_head=4096, max_headers=32),
    max_connections=40,
    head_timeout=1.0,
    idle_timeout=2.0,
    connect_timeout=2.0,
    response_timeout=1.5,
    tunnel_idle_timeout=3.0,
    shutdown_grace=1.0,
)


def self_signed_cert(folder: Path, common_name: str, alt_names: str) -> tuple[Path, Path]:
    """A throw-away certificate and key for a loopback TLS origin (skips without openssl).

    `alt_names` is openssl's subjectAltName value, e.g. "DNS:cdn.test,IP:127.0.0.1".
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={common_name}",
            "-addext",
            f"subjectAltName={alt_names}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


# -- mitmproxy's flow objects, for the addon ------------------------------------------------


def mitmproxy_http(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`mitmproxy.http`: the real module when installed, else a small stand-in with the
    same calls the addon makes (`Headers` of bytes pairs, `Response.make`)."""
    try:
        from mitmproxy import http  # type: ignore[import-not-found,unused-ignore]

        return http
    except ImportError:
        pass
    import sys
    import types

    class Headers:
        def __init__(self, fields: Iterable[tuple[bytes, bytes]]) -> None:
            self.fields = [(bytes(k), bytes(v)) for k, v in fields]  # bytes, as mitmproxy's

        def items(self, multi: bool = False) -> list[tuple[str, str]]:
            return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.fields]

        def get(self, name: str, default: str = "") -> str:
            return next((v for k, v in self.items() if k.lower() == name.lower()), default)

    class Response:
        @classmethod
        def make(cls, status_code: int, content: bytes, headers: Headers) -> Response:
            response = cls()
            response.status_code, response.content, response.headers = (
                status_code,
                content,
                headers,
            )
            return response

        status_code: int
        content: bytes
        headers: Headers

    package = types.ModuleType("mitmproxy")
    http = types.ModuleType("mitmproxy.http")
    http.Headers = Headers  # type: ignore[attr-defined]
    http.Response = Response  # type: ignore[attr-defined]
    package.http = http  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mitmproxy", package)
    monkeypatch.setitem(sys.modules, "mitmproxy.http", http)
    return http


def mitm_flow(http: Any, method: str, url: str, fields: list[tuple[str, str]]) -> Any:
    """A flow as the addon's hooks see it: `request` with method, URL, host and headers."""
    from types import SimpleNamespace

    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    headers = http.Headers([(k.encode(), v.encode()) for k, v in fields])
    request = SimpleNamespace(method=method, pretty_url=url, url=url, host=host, headers=headers)
    return SimpleNamespace(request=request, response=None, metadata={})
