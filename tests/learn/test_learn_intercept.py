"""End to end over HTTPS (issue 13, "Done means"): headless Chromium through
`trackguard proxy --intercept` learns an identifier-cookie tracker, `learn accept` turns
the suggestion into a block, and the next HTTPS request to it is blocked with an
explanation naming the layer.

Everything is real: the CLI and the proxy are subprocesses on one TRACKGUARD_HOME,
mitmdump runs in `.venv-mitm`, Chromium trusts mitmproxy's CA, the sites are TLS servers
on loopback. There is no fake clock (mitmdump cannot take one, and a clock switch would be
a way around the 2-day gate of §B9.4): yesterday's evidence comes from a HAR file with
yesterday's `startedDateTime` (`learn from-har`), today's from the browser's visits.

Names, not addresses: the learner never keys IP literals or loopback hosts (§B5), so the
sites are `*.test` names. mitmproxy resolves upstream names itself, so it runs in upstream
mode (`--mitm-option mode=upstream:...`) against a small CONNECT forwarder of this test,
which plays the DNS of the test world: each known name goes to the loopback TLS server.

In CI (`TRACKGUARD_REQUIRE_INTERCEPT=1`) a missing mitmproxy fails instead of skipping.
"""

from __future__ import annotations

import asyncio
import json
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from learn_hars import _entry

from chromium import CHROMIUM, spki_hash, through_proxy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proxy"))
from proxy_helpers import self_signed_cert

from trackguard.proxy.intercept import mitm_python

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
]
TRACKER = "px.trackco.test"
TRACKER_DOMAIN = "trackco.test"
HAR_SITES = ["one.test", "two.test"]  # yesterday, from a HAR file
LIVE_SITES = ["alpha.test", "beta.test"]  # today, through the intercepting proxy
LATER_SITES = ["gamma.test", "delta.test"]  # after learning: before and after `accept`
NAMES = frozenset([TRACKER, *HAR_SITES, *LIVE_SITES, *LATER_SITES])
UID = "4f9c2a7e81d35b60c2e94a1f"
COOKIE_ATTRS = "Max-Age=31536000; Path=/; Secure; SameSite=None"
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def _require_mitm() -> None:
    if mitm_python() is None:
        if os.environ.get("TRACKGUARD_REQUIRE_INTERCEPT") == "1":
            pytest.fail("mitmproxy not found: run `bash scripts/setup` (builds .venv-mitm)")
        pytest.skip("mitmproxy not installed (bash scripts/setup builds .venv-mitm)")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["TRACKGUARD_HOME"] = str(home)
    return env


def cli(home: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "trackguard", *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def tracker_item(home: Path) -> dict[str, Any] | None:
    items = json.loads(cli(home, "learn", "list", "--json"))
    return next((i for i in items if i["domain"] == TRACKER_DOMAIN), None)


# -- the test world: TLS sites, the tracker, and the forwarder that plays DNS ---------------


@dataclass
class World:
    """One TLS server answering for every name (by `Host`), and a CONNECT forwarder."""

    port: int = 0
    forward_port: int = 0
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def url(self, host: str, path: str) -> str:
        return f"https://{host}:{self.port}{path}"

    def tracker_hits(self) -> int:
        return sum(1 for host, _, _ in self.seen if host == TRACKER)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (x.partition(":") for x in lines[1:] if x)
                }
                host = headers.get("host", "").split(":")[0]
                self.seen.append((host, target, headers))
                if host == TRACKER:
                    extra = f"Set-Cookie: tid={UID}; {COOKIE_ATTRS}\r\n"
                    body, ctype = GIF, "image/gif"
                else:
                    extra = ""
                    body = (
                        f"<!doctype html><title>{host}</title>"
                        f'<img id="px" src="{self.url(TRACKER, "/p.gif")}">'
                    ).encode()
                    ctype = "text/html; charset=utf-8"
                writer.write(
                    (
                        f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n{extra}"
                        f"Cache-Control: no-store\r\nContent-Length: {len(body)}\r\n\r\n"
                    ).encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, IndexError):
            pass
        finally:
            writer.close()

    async def forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """`CONNECT name:port`: known names reach the TLS server, others are refused."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            authority = head.split(b" ", 2)[1].decode("latin-1")
            name, _, port = authority.rpartition(":")
            if not head.startswith(b"CONNECT ") or name not in NAMES or port != str(self.port):
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                try:
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                except ConnectionError:
                    pass
                finally:
                    dst.close()

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError, IndexError, OSError):
            pass
        finally:
            writer.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    cert, key = self_signed_cert(
        tmp_path, "trackguard-test-origin", "DNS:*.test,DNS:*.trackco.test"
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    w = World()
    loop = asyncio.new_event_loop()

    async def start() -> list[asyncio.Server]:
        origin = await asyncio.start_server(w.serve, "127.0.0.1", 0, ssl=ctx)
        forwarder = await asyncio.start_server(w.forward, "127.0.0.1", 0)
        w.port = origin.sockets[0].getsockname()[1]
        w.forward_port = forwarder.sockets[0].getsockname()[1]
        return [origin, forwarder]

    servers = loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield w

    async def stop() -> None:
        for server in servers:
            server.close()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


# -- yesterday: a HAR file -------------------------------------------------------------------


def write_yesterday_har(path: Path) -> None:
    """Chrome-style HAR: two sites, each embedding the tracker's cookie pixel, yesterday
    at noon UTC (so the HAR's day is one UTC day whatever the time of the run)."""
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    base = noon - timedelta(days=1)
    pages, entries = [], []
    for n, site in enumerate(HAR_SITES):
        when = base + timedelta(minutes=n)
        page_id, page_url = f"page_{n}", f"https://{site}/"
        stamp = when.isoformat().replace("+00:00", "Z")
        pages.append({"id": page_id, "title": page_url, "startedDateTime": stamp})
        entries.append(
            _entry(
                page_id,
                when,
                page_url,
                rtype="document",
                req={"sec-fetch-dest": "document", "sec-fetch-mode": "navigate"},
            )
        )
        entries.append(
            _entry(
                page_id,
                when + timedelta(seconds=1),
                f"https://{TRACKER}/p.gif",
                rtype="image",
                mime="image/gif",
                size=43,
                req={"referer": page_url, "sec-fetch-dest": "image"},
                resp={"set-cookie": f"tid={UID}; {COOKIE_ATTRS}"},
            )
        )
    log = {"version": "1.2", "creator": {"name": "WebInspector"}, "pages": pages}
    path.write_text(json.dumps({"log": {**log, "entries": entries}}), encoding="utf-8")


# -- the proxy and the browser ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proxy:
    """`trackguard proxy --intercept` as a subprocess; stopping it saves the learner."""

    def __init__(self, home: Path, world: World, errors: Path) -> None:
        self.home = home
        self.port = _free_port()
        self._errors = errors.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trackguard",
                "proxy",
                "--intercept",
                "--port",
                str(self.port),
                "--mitm-option",
                "ssl_insecure=true",  # the origin's certificate is self-signed
                "--mitm-option",
                f"mode=upstream:http://127.0.0.1:{world.forward_port}",
            ],
            env=_env(home),
            stdout=subprocess.DEVNULL,
            stderr=self._errors,
        )
        ca = home / "mitmproxy" / "mitmproxy-ca-cert.pem"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, errors.read_text(errors="replace")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                if ca.exists():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail("trackguard proxy --intercept did not start within 120 s")

    def stop(self) -> None:
        """SIGTERM: mitmdump runs the addon's `done`, which saves the learner's state."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._errors.close()


class Browser:
    def __init__(self, pw: Any, proxy: Proxy) -> None:
        ca = proxy.home / "mitmproxy" / "mitmproxy-ca-cert.pem"
        self.browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=through_proxy(
                proxy.port, f"--ignore-certificate-errors-spki-list={spki_hash(ca)}"
            ),
        )
        self.page = self.browser.new_page()
        #: (url, X-Trackguard-Blocked or "") of every tracker response the page saw
        self.tracker: list[tuple[str, str]] = []
        self.page.on("response", self._on_response)

    def _on_response(self, response: Any) -> None:
        if f"//{TRACKER}:" in response.url:
            self.tracker.append((response.url, response.headers.get("x-trackguard-blocked", "")))

    def visit(self, world: World, site: str) -> None:
        response = self.page.goto(world.url(site, "/index.html"), timeout=90000)
        assert response is not None and response.status == 200
        self.page.wait_for_load_state("load", timeout=90000)
        self.page.wait_for_function(
            "document.images.length > 0 && document.images[0].complete", timeout=60000
        )

    def close(self) -> None:
        self.browser.close()


def test_chromium_learns_over_intercept_then_accept_blocks_next_https_request(
    world: World, tmp_path: Path
) -> None:
    _require_mitm()
    playwright_sync = pytest.importorskip("playwright.sync_api")
    home = tmp_path / "home"
    errors = tmp_path / "proxy.stderr"

    # Yesterday, from a HAR: two sites, one day, below the threshold of 3.
    har = tmp_path / "yesterday.har"
    write_yesterday_har(har)
    imported = json.loads(cli(home, "learn", "from-har", str(har), "--json"))
    assert imported["evidence"] == 2, imported
    before = tracker_item(home)
    assert before is not None, "the HAR's tracker was not counted"
    assert (before["sites"], before["days"], before["action"]) == (2, 1, None)

    with playwright_sync.sync_playwright() as pw:
        # Today, through the intercepting proxy: two more sites embed the tracker.
        proxy = Proxy(home, world, errors)
        try:
            browser = Browser(pw, proxy)
            for site in LIVE_SITES:
                browser.visit(world, site)
            browser.close()
        finally:
            proxy.stop()  # saves what the proxy learned
        assert world.tracker_hits() == 2
        assert [b for _, b in browser.tracker] == ["", ""]  # suggest mode changes nothing

        learned = tracker_item(home)
        assert learned is not None
        assert learned["sites"] == 4 and learned["days"] >= 2, learned
        assert learned["action"] == "block" and learned["enforced"] is False, learned
        assert "cookie" in learned["kinds"]
        assert learned["layer"] == "default-allow"  # a suggestion, not enforced
        assert not any(
            i["domain"].endswith(".test") and i["domain"] != TRACKER_DOMAIN
            for i in json.loads(cli(home, "learn", "list", "--json"))
        ), "a first-party site was learned"

        # A running proxy: still a suggestion, then accepted from the CLI while it runs.
        proxy = Proxy(home, world, errors)
        try:
            browser = Browser(pw, proxy)
            browser.visit(world, LATER_SITES[0])
            assert world.tracker_hits() == 3 and browser.tracker[-1][1] == ""
            accepted = json.loads(cli(home, "learn", "accept", TRACKER_DOMAIN, "--json"))
            assert accepted["action"] == "block", accepted
            # The addon looks at settings.json at most every 2 s (by its own monotonic
            # clock); waiting that out makes the very next request the one that must see it.
            time.sleep(2.5)
            browser.visit(world, LATER_SITES[1])
            browser.close()
        finally:
            proxy.stop()

    assert world.tracker_hits() == 3, "the accepted tracker was still contacted"
    # The answer the page got explains itself: the layer that blocked (§B7 step 1).
    assert [why for _, why in browser.tracker] == ["", "(user-block)"], browser.tracker
    rows = [
        json.loads(line)
        for line in cli(home, "log", "--blocked", "--host", TRACKER_DOMAIN, "--json").splitlines()
        if line.strip()
    ]
    assert rows, "the block was not logged"
    row = rows[0]
    assert row["host"] == TRACKER and row["site"] == LATER_SITES[1] and row["layer"] == "user-block"
    shown = json.loads(cli(home, "learn", "show", TRACKER_DOMAIN, "--json"))
    assert shown["verdict"] == "accepted" and shown["layer"] == "user-block", shown
    assert shown["enforced"] is True
