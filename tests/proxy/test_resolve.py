"""`--resolver`: the proxy resolves upstream hosts through a real DNS server (dnsmasq) and
refuses a first-party name whose CNAME chain reaches a listed tracker, on plain HTTP
requests (both paths) and CONNECT tunnels; other names resolve and load as before."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from proxy_helpers import LoopThread

from trackguard.engine import Engine
from trackguard.policy.decide import PolicyConfig
from trackguard.proxy.exchange import ProxyState
from trackguard.proxy.log import DecisionLog, read_log
from trackguard.proxy.server import ProxyServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dnsserver"))
from dns_helpers import Dnsmasq, free_port

LIST = "msFilterList\n-d trackercdn.test\n"


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        ip = str(self.server.server_address[0])  # type: ignore[index]
        _Handler.hits.append((ip, self.path))
        body = f"origin {ip}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def origins() -> Iterator[int]:
    """HTTP origins on 127.0.0.2 (news.test), .3 (cdn.news.test), .5 (the cloaked tracker)."""
    port = free_port()
    servers = [ThreadingHTTPServer((f"127.0.0.{n}", port), _Handler) for n in (2, 3, 5)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def dnsmasq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dnsmasq]:
    server = Dnsmasq(tmp_path_factory.mktemp("dnsmasq"))
    server.start()
    yield server
    server.stop()


def _ask(proxy_port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=15) as sock:
        sock.sendall(request)
        out = b""
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            out += data
            if b"\r\n\r\n" in out and (b"Connection Established" in out or b"origin" in out):
                break
        return out


@pytest.mark.parametrize("fast_path", [True, False])
def test_cloaked_first_party_name_refused(
    dnsmasq: Dnsmasq, origins: int, tmp_path: Path, fast_path: bool
) -> None:
    loop = LoopThread()
    log = DecisionLog(tmp_path / "log.sqlite3", flush_seconds=0.05)
    state = ProxyState(Engine.from_text(LIST, list_id="test.tpl"), PolicyConfig())
    host, _, port = dnsmasq.address.rpartition(":")
    proxy = ProxyServer(state, port=0, log=log, resolver=(host, int(port)), fast_path=fast_path)
    loop.run(proxy.start())
    _Handler.hits.clear()
    try:
        referer = f"Referer: http://news.test:{origins}/\r\n"
        ok = _ask(
            proxy.port,
            f"GET http://cdn.news.test:{origins}/app.js HTTP/1.1\r\nHost: cdn.news.test\r\n"
            f"{referer}Connection: close\r\n\r\n".encode(),
        )
        assert ok.startswith(b"HTTP/1.1 200") and b"origin 127.0.0.3" in ok
        cloaked = _ask(
            proxy.port,
            f"GET http://metrics.news.test:{origins}/p.gif HTTP/1.1\r\nHost: metrics.news.test\r\n"
            f"{referer}Connection: close\r\n\r\n".encode(),
        )
        assert cloaked.startswith(b"HTTP/1.1 403"), cloaked
        assert b"cloaked: metrics.news.test -> news-test.trackercdn.test" in cloaked
        assert b"-d trackercdn.test (test.tpl:2)" in cloaked
        tunnel = _ask(
            proxy.port,
            f"CONNECT metrics.news.test:{origins} HTTP/1.1\r\n\r\n".encode(),
        )
        assert tunnel.startswith(b"HTTP/1.1 403") and b"cloaked:" in tunnel
        assert not any(ip == "127.0.0.5" for ip, _ in _Handler.hits)
    finally:
        loop.run(proxy.close())
        loop.stop()
        log.close()
    rows = [r for r in read_log(tmp_path / "log.sqlite3") if r.host == "metrics.news.test"]
    blocked = [r for r in rows if r.action == "block"]
    assert {r.kind for r in blocked} == {"http", "tunnel"}
    assert all(
        r.rule == "-d trackercdn.test" and r.url and r.url.startswith("cname:") for r in blocked
    )


def test_unknown_name_is_a_502(dnsmasq: Dnsmasq) -> None:
    loop = LoopThread()
    state = ProxyState(Engine.from_text(LIST), PolicyConfig())
    host, _, port = dnsmasq.address.rpartition(":")
    proxy = ProxyServer(state, port=0, resolver=(host, int(port)))
    loop.run(proxy.start())
    try:
        out = _ask(
            proxy.port,
            b"GET http://missing.test/ HTTP/1.1\r\nHost: missing.test\r\nConnection: close\r\n\r\n",
        )
        assert out.startswith(b"HTTP/1.1 502") and b"cannot resolve host missing.test" in out
    finally:
        loop.run(proxy.close())
        loop.stop()
