"""HTTPS interception end to end (issue 9): headless Chromium through
`trackguard proxy --intercept` to HTTPS origins on loopback.

Names are avoided (mitmproxy resolves upstream hosts itself): the site, a third party and
a pinned host are three loopback addresses, 127.0.0.2-4, each with its own TLS listener.
Chromium trusts exactly two keys: mitmproxy's CA (read from the state folder) and the
origins' self-signed certificate (what a passthrough tunnel shows it).

In CI (`TRACKGUARD_REQUIRE_INTERCEPT=1`, set by .ci/run) a missing mitmproxy fails the
test instead of skipping it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from proxy_helpers import self_signed_cert

from chromium import CHROMIUM, spki_hash, through_proxy
from trackguard.proxy.intercept import mitm_python

SITE, THIRD, PINNED = "127.0.0.2", "127.0.0.3", "127.0.0.4"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
]


def _require_mitm() -> None:
    if mitm_python() is None:
        if os.environ.get("TRACKGUARD_REQUIRE_INTERCEPT") == "1":
            pytest.fail("mitmproxy not found: run `bash scripts/setup` (builds .venv-mitm)")
        pytest.skip("mitmproxy not installed (bash scripts/setup builds .venv-mitm)")


@dataclass
class Origins:
    """Three TLS origins on 127.0.0.2-4 recording (address, target, lower-case headers)."""

    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, address: str, path: str) -> str:
        return f"https://{address}:{self.ports[address]}{path}"

    def page(self) -> bytes:
        third = self.url(THIRD, "")
        return f"""<!doctype html><html><head>
<script src="{third}/lib.js"></script>
<script src="{third}/tr/fbevents.js"></script>
</head><body><img id="px" src="{third}/ccm/collect.gif">
<script>
  window.results = {{}};
  fetch("{third}/api.json").then(r => r.text()).then(t => window.results.api = t)
    .catch(e => window.results.api = "error");
  fetch("{third}/ccm/collect", {{method: "POST", body: "x"}})
    .then(r => window.results.collect = r.status).catch(e => window.results.collect = "e");
</script></body></html>""".encode()

    async def handle(
        self, address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (x.partition(":") for x in lines[1:] if x)
                }
                self.seen.append((address, target, headers))
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                if target == "/index.html":
                    body, ctype = self.page(), "text/html; charset=utf-8"
                elif target.endswith(".js"):
                    body, ctype = b"window.loaded = true;", "application/javascript"
                else:
                    body, ctype = b"ok " + address.encode(), "text/plain"
                writer.write(
                    (
                        f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
                        "Access-Control-Allow-Origin: *\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n"
                    ).encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def origins(tmp_path: Path) -> Iterator[tuple[Origins, Path]]:
    cert, key = self_signed_cert(
        tmp_path, "trackguard-test-origin", f"IP:{SITE},IP:{THIRD},IP:{PINNED}"
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    recorded = Origins()
    loop = asyncio.new_event_loop()
    servers = []
    for address in (SITE, THIRD, PINNED):

        async def start(address: str = address) -> asyncio.Server:
            return await asyncio.start_server(
                lambda r, w: recorded.handle(address, r, w), address, 0, ssl=ctx
            )

        server = loop.run_until_complete(start())
        recorded.ports[address] = server.sockets[0].getsockname()[1]
        servers.append(server)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield recorded, cert
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_chromium_through_intercepting_proxy(origins: tuple[Origins, Path], tmp_path: Path) -> None:
    _require_mitm()
    playwright_sync = pytest.importorskip("playwright.sync_api")
    recorded, origin_cert = origins
    rules = tmp_path / "rules.txt"
    rules.write_text(
        "[Adblock Plus 2.0]\n"
        "/fbevents.js\n"  # URL patterns: invisible to a host-only tunnel
        f"||{THIRD}^*/ccm/\n"  # a host and a path, like ||google.com/ccm/
    )
    home = tmp_path / "home"
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trackguard",
            "proxy",
            "--intercept",
            "--port",
            str(port),
            "--list",
            str(rules),
            "--gpc",
            "--dnt",
            "--passthrough",
            PINNED,
            "--mitm-option",
            "ssl_insecure=true",  # the origins' certificate is self-signed
        ],
        env={**os.environ, "TRACKGUARD_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ca = home / "mitmproxy" / "mitmproxy-ca-cert.pem"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                if ca.exists():
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("trackguard proxy --intercept did not start within 90 s")

        trusted = f"{spki_hash(ca)},{spki_hash(origin_cert)}"
        with playwright_sync.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=through_proxy(
                    port, f"--ignore-certificate-errors-spki-list={trusted}", resolve_names=True
                ),
                env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")},
            )
            try:
                page: Any = browser.new_page()
                response = page.goto(recorded.url(SITE, "/index.html"), timeout=60000)
                assert response is not None and response.status == 200
                page.wait_for_function(
                    "window.results && 'api' in window.results && 'collect' in window.results",
                    timeout=30000,
                )
                results = page.evaluate("window.results")
                images = page.evaluate("[...document.images].map(i => i.naturalWidth)")
                loaded = page.evaluate("window.loaded === true")
                site_issuer = (response.security_details() or {}).get("issuer", "")

                pinned = page.goto(recorded.url(PINNED, "/pass.txt"), timeout=60000)
                assert pinned is not None and pinned.status == 200
                pinned_issuer = (pinned.security_details() or {}).get("issuer", "")
            finally:
                browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    third_targets = sorted(t for a, t, _ in recorded.seen if a == THIRD)
    # URL-pattern rules block on HTTPS; the same host's other resources load.
    assert third_targets == ["/api.json", "/lib.js"], third_targets
    assert loaded and results["api"] == f"ok {THIRD}"
    assert results["collect"] == 204  # answered locally, the page's promise resolves
    assert images == [1]  # the transparent GIF stands in for the blocked pixel
    # DNT and GPC reach the HTTPS origin, on the page and its resources.
    site_seen = [h for a, _, h in recorded.seen if a in (SITE, THIRD)]
    assert site_seen and all(h.get("sec-gpc") == "1" and h.get("dnt") == "1" for h in site_seen)
    # Intercepted: Chromium saw mitmproxy's certificate. Passthrough: the origin's own,
    # and the request arrived untouched (no signal headers added).
    assert "mitmproxy" in site_issuer.lower(), site_issuer
    assert pinned_issuer == "trackguard-test-origin", pinned_issuer
    pinned_seen = [h for a, _, h in recorded.seen if a == PINNED]
    assert len(pinned_seen) >= 1
    assert all("sec-gpc" not in h and "dnt" not in h for h in pinned_seen)
