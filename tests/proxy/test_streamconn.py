"""The stream path (`proxy/streamconn.py`) on its own: a proxy with the fast path off
serves every exchange with StreamReader/Writer coroutines, and behaves as the default
proxy does (the rest of `tests/proxy` drives the stream code through hand-overs)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from proxy_helpers import LoopThread, Origin, start_proxy

from trackguard.proxy.server import ProxyServer


@pytest.fixture(scope="module")
def stream_proxy() -> Iterator[tuple[ProxyServer, Origin]]:
    loop = LoopThread()
    cdn = Origin("cdn")
    loop.run(cdn.start())
    proxy = start_proxy(loop, fast_path=False)
    yield proxy, cdn
    loop.run(proxy.close())
    loop.run(cdn.close())
    loop.stop()


def test_keep_alive_gets_blocks_uploads_and_chunked_bodies(
    stream_proxy: tuple[ProxyServer, Origin],
) -> None:
    proxy, cdn = stream_proxy
    base = f"http://cdn.test:{cdn.port}"
    cross_site = {"Origin": "http://site.test", "Sec-Fetch-Site": "cross-site"}
    with httpx.Client(proxy=f"http://127.0.0.1:{proxy.port}", timeout=20, trust_env=False) as c:
        first = c.get(f"{base}/a")
        second = c.get(f"{base}/b?utm_source=x&v=1", headers=cross_site)
        upload = c.post(f"{base}/upload", content=b"z" * 300_000)
        chunked = c.get(f"{base}/chunked")
        blocked = c.get(f"http://tracker.test:{cdn.port}/t.js", headers=cross_site)
    assert first.text == "cdn ok /a" and second.text == "cdn ok /b?v=1"
    assert upload.json()["length"] == 300_000
    assert chunked.text == "hello world"
    assert blocked.status_code == 200 and blocked.content == b""  # an empty script
    assert blocked.headers["x-trackguard-blocked"].startswith("-d tracker.test (test.tpl:3)")
    assert [s.target for s in cdn.seen] == ["/a", "/b?v=1", "/upload", "/chunked"]


def test_pac_and_connect_refusal(stream_proxy: tuple[ProxyServer, Origin]) -> None:
    proxy, _ = stream_proxy
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"GET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        pac = b""
        while chunk := s.recv(65536):
            pac += chunk
    assert (
        pac.startswith(b"HTTP/1.1 200 OK\r\n") and f"PROXY 127.0.0.1:{proxy.port}".encode() in pac
    )
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"CONNECT tracker.test:443 HTTP/1.1\r\n\r\n")
        refused = b""
        while chunk := s.recv(65536):
            refused += chunk
    assert refused.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert refused.endswith(b"To allow it: trackguard allow tracker.test\n")
