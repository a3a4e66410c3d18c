"""The dashboard through the running proxy, attacked as other local pages would.

Raw HTTP to the proxy's own address: another origin (or a rebinding name) can neither
change anything nor read anything, the secret is never served, every response carries the
CSP and no CORS, and the dashboard does not break the proxy's other local answers.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_helpers import LoopThread

from trackguard.engine import Engine
from trackguard.policy.decide import PolicyConfig
from trackguard.proxy.exchange import ProxyState
from trackguard.proxy.server import ProxyServer
from trackguard.settings import load_settings
from trackguard.web.app import WebApp

Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    home = tmp_path_factory.mktemp("home")
    loop = LoopThread()
    state = ProxyState(Engine.from_text("msFilterList\n-d tracker.test\n"), PolicyConfig())
    proxy = ProxyServer(state, port=0, local_app=WebApp(home))
    loop.run(proxy.start())
    yield proxy.port, home
    loop.run(proxy.close())
    loop.stop()


def _http(port: int, request: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, payload


def _get(
    port: int, path: str, host: str | None = None, extra: str = ""
) -> tuple[int, dict[str, str], bytes]:
    host = host or f"127.0.0.1:{port}"
    return _http(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")


def _post(port: int, path: str, payload: object, headers: str) -> Reply:
    body = json.dumps(payload).encode()
    return _http(
        port,
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n",
        body,
    )


def _token(port: int) -> str:
    _, _, page = _get(port, "/")
    found = re.search(rb'name="csrf-token" content="([0-9a-f]{64})"', page)
    assert found
    return found.group(1).decode()


def test_page_has_csp_no_cors_and_never_the_secret(running: tuple[int, Path]) -> None:
    port, home = running
    status, headers, page = _get(port, "/", extra="Origin: http://evil.example\r\n")
    assert status == 200 and "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert not any(k.startswith("access-control-") for k in headers)
    secret = (home / "web-secret").read_bytes()
    for path in ("/", "/static/app.js", "/static/app.css", "/api/settings", "/api/overview"):
        assert secret not in _get(port, path)[2], path
    assert b"<script>" not in page  # no inline script: the CSP allows none


def test_rebinding_host_refused(running: tuple[int, Path]) -> None:
    port, _ = running
    for host in (f"rebind.attacker.example:{port}", "evil.example", f"127.0.0.1:{port + 1}"):
        status, _, body = _get(port, "/api/settings", host=host)
        assert status == 421 and b"user_allow" not in body, host


def test_foreign_origin_and_missing_token_change_nothing(running: tuple[int, Path]) -> None:
    port, home = running
    token = _token(port)
    own = f"http://127.0.0.1:{port}"
    attempts = [
        f"X-Trackguard-CSRF: {token}\r\n",  # no Origin (e.g. a form from a file: page)
        f"Origin: http://evil.example\r\nX-Trackguard-CSRF: {token}\r\n",
        f"Origin: {own}\r\n",  # same origin but no token
        f"Origin: {own}\r\nX-Trackguard-CSRF: {'0' * 64}\r\n",
        f"Origin: {own}\r\nX-Trackguard-CSRF: {token}\r\nSec-Fetch-Site: cross-site\r\n",
    ]
    for headers in attempts:
        status, _, _ = _post(port, "/api/action/protection", {"on": False}, headers)
        assert status == 403, headers
    assert load_settings(home).protection is True
    status, _, body = _post(
        port,
        "/api/action/protection",
        {"on": False},
        f"Origin: {own}\r\nX-Trackguard-CSRF: {token}\r\n",
    )
    assert status == 200 and json.loads(body)["ok"]
    assert load_settings(home).protection is False
    _post(
        port,
        "/api/action/protection",
        {"on": True},
        f"Origin: {own}\r\nX-Trackguard-CSRF: {token}\r\n",
    )


def test_bad_bodies_and_methods(running: tuple[int, Path]) -> None:
    port, _ = running
    token = _token(port)
    headers = f"Origin: http://127.0.0.1:{port}\r\nX-Trackguard-CSRF: {token}\r\n"
    status, _, body = _http(
        port,
        f"POST /api/action/allow HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
        "Content-Length: 9\r\nConnection: close\r\n\r\n",
        b"not json!",
    )
    assert status == 400 and b"not JSON" in body
    status, _, _ = _http(
        port,
        f"POST /api/action/allow HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
        "Content-Length: 100000\r\nConnection: close\r\n\r\n",
    )
    assert status == 413
    assert _get(port, "/api/nothing")[0] == 404


def test_pac_and_proxying_unchanged(running: tuple[int, Path]) -> None:
    port, _ = running
    status, headers, body = _get(port, "/proxy.pac")
    assert status == 200 and b"FindProxyForURL" in body
    # A proxied request for a listed tracker is still judged and blocked, not the dashboard.
    status, headers, _ = _http(
        port,
        "GET http://tracker.test/p.gif HTTP/1.1\r\nHost: tracker.test\r\nConnection: close\r\n\r\n",
    )
    assert status in (200, 204) and "x-trackguard-blocked" in headers


def test_broken_settings_file_is_reported_not_overwritten(running: tuple[int, Path]) -> None:
    port, home = running
    settings = home / "settings.json"
    saved = settings.read_bytes() if settings.exists() else None
    settings.write_text('{"dnt": true,\n "gpc": tru}\n')
    try:
        status, _, body = _get(port, "/api/settings")
        assert status == 409 and b"settings.json:2" in body
        token = _token(port)
        headers = f"Origin: http://127.0.0.1:{port}\r\nX-Trackguard-CSRF: {token}\r\n"
        status, _, body = _post(port, "/api/action/allow", {"domain": "cdn.example"}, headers)
        assert status == 409 and settings.read_text() == '{"dnt": true,\n "gpc": tru}\n'
    finally:
        if saved is None:
            settings.unlink()
        else:
            settings.write_bytes(saved)
