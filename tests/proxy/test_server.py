"""End-to-end tests of the proxy with real clients (httpx, curl, raw sockets) on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from proxy_helpers import LoopThread, Net, self_signed_cert, start_proxy

from trackguard.policy.signals import SignalPlan
from trackguard.proxy.log import read_log

BROWSER_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def client(net: Net) -> httpx.Client:
    return httpx.Client(proxy=net.proxy_url, timeout=10, trust_env=False)


def navigate(net: Net, c: httpx.Client, host: str = "site.test") -> httpx.Response:
    """A typed-address navigation as Chromium sends it over plain HTTP (no Sec-Fetch)."""
    r = c.get(net.url(host, "/page.html"), headers={"Accept": BROWSER_HTML})
    assert r.status_code == 200
    return r


def raw(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send bytes to the proxy and read until it closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


# -- first party passes, third-party tracker blocked --------------------------------------


def test_first_party_passes_and_tracker_is_blocked_httpx(fresh: Net) -> None:
    with client(fresh) as c:
        navigate(fresh, c)
        referer = {"Referer": fresh.url("site.test", "/page.html")}
        own = c.get(fresh.url("www.site.test", "/app.js"), headers=referer)
        assert own.status_code == 200 and own.text == "window.loaded = true;"
        neutral = c.get(fresh.url("cdn.test", "/lib.js"), headers=referer)
        assert neutral.status_code == 200
        blocked = c.get(fresh.url("tracker.test", "/t.js"), headers=referer)
    assert blocked.status_code == 200
    assert blocked.content == b""
    assert blocked.headers["content-type"] == "application/javascript"
    assert blocked.headers["x-trackguard-blocked"].startswith("-d tracker.test (test.tpl:3)")
    assert fresh.tracker.seen == []
    assert [s.target for s in fresh.site.seen] == ["/page.html", "/app.js"]


def test_blocked_image_is_a_transparent_gif_and_xhr_a_204(fresh: Net) -> None:
    with client(fresh) as c:
        navigate(fresh, c)
        ref = {"Referer": fresh.url("site.test", "/")}
        img = c.get(fresh.url("cdn.tracker.test", "/p.gif"), headers=ref)
        xhr = c.post(
            fresh.url("tracker.test", "/collect"),
            headers={**ref, "Origin": fresh.url("site.test", "").rstrip("/")},
            content=b"{}",
        )
    assert img.status_code == 200 and img.content.startswith(b"GIF89a")
    assert xhr.status_code == 204
    assert xhr.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in xhr.headers
    assert fresh.tracker.seen == []


def test_curl_first_party_passes_third_party_blocked(fresh: Net) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl not installed")
    base = [curl, "-sS", "--noproxy", "", "-x", fresh.proxy_url, "-D", "-", "-o", "/dev/null"]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    page = subprocess.run(
        [*base, "-H", f"Accept: {BROWSER_HTML}", fresh.url("site.test", "/page.html")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert page.stdout.startswith("HTTP/1.1 200")
    ref = fresh.url("site.test", "/page.html")
    own = subprocess.run(
        [*base, "-e", ref, fresh.url("site.test", "/a.js")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    tracked = subprocess.run(
        [*base, "-e", ref, fresh.url("tracker.test", "/pixel.gif")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert own.stdout.startswith("HTTP/1.1 200")
    assert "X-Trackguard-Blocked: -d tracker.test (test.tpl:3)" in tracked.stdout
    assert fresh.tracker.seen == []
    assert len(fresh.site.seen) == 2


def test_navigation_to_a_listed_host_is_never_blocked(fresh: Net) -> None:
    with client(fresh) as c:
        typed = c.get(fresh.url("tracker.test", "/page.html"), headers={"Accept": BROWSER_HTML})
        fetch_nav = c.get(
            fresh.url("tracker.test", "/page.html"),
            headers={
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "document",
                "Sec-Fetch-Site": "cross-site",
                "Referer": fresh.url("site.test", "/"),
            },
        )
    assert typed.status_code == fetch_nav.status_code == 200
    assert len(fresh.tracker.seen) == 2


def test_unattributed_request_is_judged_as_a_tunnel_unless_it_may_navigate(fresh: Net) -> None:
    """Revised §A.7 item 4: `curl -x proxy http://tracker/...` is refused as over HTTPS;
    an HTML GET (a possible navigation) still passes."""
    with client(fresh) as c:
        bare = c.get(fresh.url("tracker.test", "/t.js"))
        page = c.get(fresh.url("tracker.test", "/"), headers={"Accept": "text/html"})
        pattern = c.get(fresh.url("ads.test", "/banner/1.png"))
        cross = c.get(
            fresh.url("tracker.test", "/t.js"),
            headers={
                "Sec-Fetch-Site": "cross-site",
                "Sec-Fetch-Mode": "no-cors",
                "Sec-Fetch-Dest": "script",
            },
        )
    assert bare.headers["x-trackguard-blocked"] == "-d tracker.test (test.tpl:3)"
    assert "x-trackguard-blocked" in cross.headers
    assert "x-trackguard-blocked" not in page.headers
    assert "x-trackguard-blocked" not in pattern.headers  # URL patterns need the page
    assert [s.target for s in fresh.tracker.seen] == ["/", "/banner/1.png"]


def test_fetch_metadata_navigation_engages_site_and_frames_are_explained(fresh: Net) -> None:
    with client(fresh) as c:
        c.get(
            fresh.url("site.test", "/page.html"),
            headers={
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "document",
                "Sec-Fetch-Site": "none",
            },
        )
        frame = c.get(
            fresh.url("tracker.test", "/widget.html"),
            headers={
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "iframe",
                "Sec-Fetch-Site": "cross-site",
                "Referer": fresh.url("site.test", "/"),
            },
        )
    assert frame.status_code == 200
    assert frame.headers["content-type"].startswith("text/html")
    assert "trackguard blocked this frame" in frame.text
    assert "tracker.test" in frame.text
    assert fresh.tracker.seen == []


def test_frames_subresources_are_judged_against_the_top_level_site(fresh: Net) -> None:
    """§A.7 item 2: a resource inside a frame is judged against the top-level page."""
    with client(fresh) as c:
        navigate(fresh, c)
        # A cdn.test frame inside site.test (allowed: cdn.test is not listed)...
        frame = c.get(
            fresh.url("cdn.test", "/frame.html"),
            headers={"Accept": BROWSER_HTML, "Referer": fresh.url("site.test", "/")},
        )
        assert frame.status_code == 200
        # ...whose own request to the tracker names the frame as its referrer.
        inner = c.get(
            fresh.url("tracker.test", "/t.gif"),
            headers={"Referer": fresh.url("cdn.test", "/frame.html")},
        )
    assert "x-trackguard-blocked" in inner.headers
    assert fresh.tracker.seen == []


def test_allow_rule_beats_block_and_user_overrides_win(fresh: Net) -> None:
    ref = {"Referer": fresh.url("site.test", "/")}
    with client(fresh) as c:
        navigate(fresh, c)
        fresh.configure(user_allow=frozenset({"tracker.test"}))
        allowed = c.get(fresh.url("tracker.test", "/t.js"), headers=ref)
        fresh.configure(user_allow=frozenset(), user_block=frozenset({"cdn.test"}))
        user_blocked = c.get(fresh.url("cdn.test", "/lib.js"), headers=ref)
    assert allowed.status_code == 200 and allowed.text == "window.loaded = true;"
    assert user_blocked.headers["x-trackguard-blocked"] == "(user-block)"
    assert len(fresh.tracker.seen) == 1 and fresh.cdn.seen == []


def test_site_switch_turns_protection_off_for_that_site_only(fresh: Net) -> None:
    fresh.configure(exempt_sites=frozenset({"site.test"}))
    with client(fresh) as c:
        navigate(fresh, c)
        navigate(fresh, c, "other.test")
        on_exempt = c.get(
            fresh.url("tracker.test", "/t.js"), headers={"Referer": fresh.url("site.test", "/")}
        )
        on_other = c.get(
            fresh.url("tracker.test", "/t.js"), headers={"Referer": fresh.url("other.test", "/")}
        )
    assert "x-trackguard-blocked" not in on_exempt.headers
    assert "x-trackguard-blocked" in on_other.headers
    assert len(fresh.tracker.seen) == 1


# -- DNT / GPC headers, exactly the vectors of privacy-signals §C.4 -------------------------

SIGNAL_VECTORS = [
    # (incoming fields, plan, forwarded DNT/Sec-GPC fields in order)
    ([], SignalPlan(dnt=True, gpc=True), [("Sec-GPC", "1"), ("DNT", "1")]),
    ([("DNT", "0")], SignalPlan(dnt=True), [("DNT", "0")]),
    ([("Sec-GPC", "1")], SignalPlan(), [("Sec-GPC", "1")]),
    ([("Sec-GPC", "0")], SignalPlan(gpc=True), [("Sec-GPC", "1")]),
    ([("Sec-GPC", "0")], SignalPlan(), [("Sec-GPC", "0")]),
    (
        [("Sec-GPC", "1"), ("Sec-GPC", "1")],
        SignalPlan(gpc=True),
        [("Sec-GPC", "1"), ("Sec-GPC", "1")],
    ),
    ([("Sec-GPC", "1"), ("Sec-GPC", "0")], SignalPlan(gpc=True), [("Sec-GPC", "1")]),
    ([], SignalPlan(dnt=True), [("DNT", "1")]),  # IE9-compatible + protection on (§C.3)
    ([], SignalPlan(), []),  # IE9-compatible + protection off: nothing added
    # Field names are case-insensitive: a client's lower-case field is the one that leaves.
    ([("sec-gpc", "1")], SignalPlan(dnt=True, gpc=True), [("sec-gpc", "1"), ("DNT", "1")]),
    ([("dnt", "0")], SignalPlan(dnt=True, gpc=True), [("dnt", "0"), ("Sec-GPC", "1")]),
]


@pytest.mark.parametrize(("incoming", "plan", "forwarded"), SIGNAL_VECTORS)
def test_signal_headers_reach_the_origin_exactly(
    fresh: Net,
    incoming: list[tuple[str, str]],
    plan: SignalPlan,
    forwarded: list[tuple[str, str]],
) -> None:
    fresh.configure(signals=plan)
    head = "".join(f"{k}: {v}\r\n" for k, v in incoming)
    response = raw(
        fresh.proxy.port,
        (
            f"GET {fresh.url('cdn.test', '/headers')} HTTP/1.1\r\nHost: cdn.test\r\n{head}"
            "Connection: close\r\n\r\n"
        ).encode(),
    )
    assert response.startswith(b"HTTP/1.1 200")
    seen = fresh.cdn.seen[-1].headers
    assert [(k, v) for k, v in seen if k.lower() in ("dnt", "sec-gpc")] == forwarded


def test_signals_with_httpx_and_curl(fresh: Net) -> None:
    fresh.configure(signals=SignalPlan(dnt=True, gpc=True))
    with client(fresh) as c:
        r = c.get(fresh.url("cdn.test", "/headers"))
    sent = {k.lower(): v for k, v in json.loads(r.text)}
    assert sent["dnt"] == "1" and sent["sec-gpc"] == "1"
    curl = shutil.which("curl")
    if curl:
        out = subprocess.run(
            [
                curl,
                "-sS",
                "--noproxy",
                "",
                "-x",
                fresh.proxy_url,
                "-H",
                "Sec-GPC: 0",
                fresh.url("cdn.test", "/headers"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        fields = [(k.lower(), v) for k, v in json.loads(out)]
        assert ("sec-gpc", "1") in fields and ("sec-gpc", "0") not in fields


def test_removeparam_strips_tracking_parameters(fresh: Net) -> None:
    with client(fresh) as c:
        r = c.get(fresh.url("cdn.test", "/a?id=7&utm_source=news"))
    assert r.status_code == 200
    assert fresh.cdn.seen[-1].target == "/a?id=7"


# -- HTTP/1.1 mechanics ------------------------------------------------------------------


def test_keep_alive_chunked_close_delimited_and_head(fresh: Net) -> None:
    port = fresh.proxy.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for _ in range(3):
            s.sendall(
                f"GET {fresh.url('cdn.test', '/x')} HTTP/1.1\r\nHost: cdn.test\r\n\r\n".encode()
            )
            data = b""
            while not data.endswith(b"/x"):
                data += s.recv(4096)
            assert data.startswith(b"HTTP/1.1 200")
    with client(fresh) as c:
        chunked = c.get(fresh.url("cdn.test", "/chunked"))
        closing = c.get(fresh.url("cdn.test", "/close"))
        head = c.head(fresh.url("cdn.test", "/page.html"))
        gz = c.get(fresh.url("cdn.test", "/gzip"))
    assert chunked.text == "hello world"
    assert closing.text == "until close"
    assert head.status_code == 200 and head.content == b""
    assert gz.text == "compressed " * 100


def test_http10_client_gets_dechunked_body(fresh: Net) -> None:
    out = raw(
        fresh.proxy.port, f"GET {fresh.url('cdn.test', '/chunked')} HTTP/1.0\r\n\r\n".encode()
    )
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head
    assert body == b"hello world"


def test_large_upload_is_streamed_intact(fresh: Net) -> None:
    payload = os.urandom(1 << 20) * 24  # 24 MiB
    with client(fresh) as c:
        r = c.post(fresh.url("cdn.test", "/upload"), content=payload)
        chunks = (payload[i : i + 300_000] for i in range(0, len(payload), 300_000))
        rc = c.post(fresh.url("cdn.test", "/upload"), content=chunks)  # chunked upload
    expected = {"length": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    assert r.json() == expected
    assert rc.json() == expected


def test_large_download(fresh: Net) -> None:
    with client(fresh) as c:
        r = c.get(fresh.url("cdn.test", "/big?n=30000000"))
    assert len(r.content) == 30_000_000


def test_expect_continue_upload(fresh: Net) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl not installed")
    data = "a" * 5_000_000
    out = subprocess.run(
        [
            curl,
            "-sS",
            "--noproxy",
            "",
            "-x",
            fresh.proxy_url,
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            "@-",
            fresh.url("cdn.test", "/upload"),
        ],
        input=data,
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    )
    assert json.loads(out.stdout)["length"] == 5_000_000


# -- upstream failures --------------------------------------------------------------------


def test_upstream_refused_and_unresolvable_give_502(fresh: Net) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with client(fresh) as c:
        refused = c.get(f"http://cdn.test:{free}/")
        unknown = c.get("http://no-such-host.invalid/")
    assert refused.status_code == 502 and "refused" in refused.text
    assert unknown.status_code == 502 and "resolve" in unknown.text


def test_upstream_hangup_gives_502(fresh: Net) -> None:
    with client(fresh) as c:
        r = c.get(fresh.url("cdn.test", "/hangup"))
    assert r.status_code == 502


def test_slow_upstream_gives_504(strict_net: Net) -> None:
    with httpx.Client(proxy=strict_net.proxy_url, timeout=10, trust_env=False) as c:
        started = time.monotonic()
        r = c.get(strict_net.url("cdn.test", "/slow"))
    assert r.status_code == 504
    assert "did not answer in time" in r.text
    assert time.monotonic() - started < 4


# -- CONNECT -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    return self_signed_cert(folder, "cdn.test", "DNS:cdn.test,DNS:tracker.test")


def _tls_origin(loop: LoopThread, cert: Path, key: Path) -> tuple[int, list[bytes]]:
    import asyncio

    seen: list[bytes] = []
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            seen.append(head)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure")
            await writer.drain()
        finally:
            writer.close()

    async def start() -> int:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
        return int(server.sockets[0].getsockname()[1])

    return loop.run(start()), seen


def test_connect_to_local_tls_server_passes(fresh: Net, tls_cert: tuple[Path, Path]) -> None:
    port, seen = _tls_origin(fresh.loop, *tls_cert)
    with httpx.Client(
        proxy=fresh.proxy_url,
        verify=ssl.create_default_context(cafile=str(tls_cert[0])),
        trust_env=False,
        timeout=10,
    ) as c:
        r = c.get(f"https://cdn.test:{port}/hello")
    assert r.status_code == 200 and r.text == "secure"
    assert seen and seen[0].startswith(b"GET /hello HTTP/1.1")


def test_connect_to_listed_tracker_is_refused(fresh: Net, tls_cert: tuple[Path, Path]) -> None:
    port, seen = _tls_origin(fresh.loop, *tls_cert)
    out = raw(
        fresh.proxy.port,
        f"CONNECT tracker.test:{port} HTTP/1.1\r\nHost: tracker.test:{port}\r\n\r\n".encode(),
    )
    assert out.startswith(b"HTTP/1.1 403")
    assert b"X-Trackguard-Blocked: -d tracker.test (test.tpl:3)" in out
    assert b"trackguard blocked the connection to tracker.test" in out
    with (
        pytest.raises(httpx.ProxyError),
        httpx.Client(proxy=fresh.proxy_url, verify=False, trust_env=False) as c,
    ):
        c.get(f"https://tracker.test:{port}/")
    assert seen == []


def test_connect_respects_site_switch_and_user_allow(
    fresh: Net, tls_cert: tuple[Path, Path]
) -> None:
    port, seen = _tls_origin(fresh.loop, *tls_cert)
    ctx = ssl.create_default_context(cafile=str(tls_cert[0]))
    fresh.configure(exempt_sites=frozenset({"tracker.test"}))
    with httpx.Client(proxy=fresh.proxy_url, verify=ctx, trust_env=False) as c:
        assert c.get(f"https://tracker.test:{port}/").status_code == 200
    fresh.configure(exempt_sites=frozenset(), user_allow=frozenset({"tracker.test"}))
    with httpx.Client(proxy=fresh.proxy_url, verify=ctx, trust_env=False) as c:
        assert c.get(f"https://tracker.test:{port}/").status_code == 200
    assert len(seen) == 2


def test_https_absolute_form_is_fetched_over_tls(fresh: Net, tls_cert: tuple[Path, Path]) -> None:
    port, _ = _tls_origin(fresh.loop, *tls_cert)
    out = raw(
        fresh.proxy.port,
        f"GET https://cdn.test:{port}/ HTTP/1.1\r\nHost: cdn.test\r\n"
        "Connection: close\r\n\r\n".encode(),
        timeout=3,
    )
    # The proxy verifies upstream certificates with the system store: self-signed fails.
    assert out.startswith(b"HTTP/1.1 502") and b"TLS" in out


# -- the proxy itself: PAC, loops, client networks ---------------------------------------


def test_pac_file_is_served(fresh: Net) -> None:
    r = httpx.get(f"{fresh.proxy_url}/proxy.pac", trust_env=False)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ns-proxy-autoconfig"
    assert f'return "PROXY 127.0.0.1:{fresh.proxy.port}";' in r.text
    with client(fresh) as c:
        again = c.get(f"{fresh.proxy_url}/proxy.pac")
    assert again.text == r.text


def test_proxy_never_relays_to_itself(fresh: Net) -> None:
    port = fresh.proxy.port
    tunnel = raw(port, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    assert tunnel.startswith(b"HTTP/1.1 508")
    before = fresh.proxy.requests
    local = raw(
        port, f"GET http://localhost:{port}/x HTTP/1.1\r\nConnection: close\r\n\r\n".encode()
    )
    assert local.startswith(b"HTTP/1.1 404")
    assert fresh.proxy.requests == before + 1


def test_clients_outside_allow_from_are_refused() -> None:
    loop = LoopThread()
    try:
        from trackguard.proxy.server import ProxyServer

        proxy = start_proxy(loop)
        loop.run(proxy.close())
        closed = ProxyServer(proxy.state, host="127.0.0.1", port=0, allow_from=("10.0.0.0/8",))
        loop.run(closed.start())
        out = raw(closed.port, b"GET http://cdn.test/ HTTP/1.1\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 403") and b"allow-from" in out
        loop.run(closed.close())
    finally:
        loop.stop()


def test_decision_log_records_blocks_without_allowed_urls(fresh: Net) -> None:
    with client(fresh) as c:
        navigate(fresh, c)
        c.get(
            fresh.url("tracker.test", "/t.js?uid=42"),
            headers={"Referer": fresh.url("site.test", "/")},
        )
        c.get(
            fresh.url("cdn.test", "/lib.js?secret=1"),
            headers={"Referer": fresh.url("site.test", "/")},
        )
    assert fresh.log is not None
    fresh.log.flush_now()
    entries = read_log(fresh.log.path, limit=1000)
    blocks = [e for e in entries if e.action == "block" and e.host == "tracker.test"]
    assert blocks and blocks[0].site == "site.test"
    assert blocks[0].rule == "-d tracker.test" and blocks[0].list == "test.tpl"
    assert blocks[0].url is not None and "uid" not in blocks[0].url
    allowed = [e for e in entries if e.host == "cdn.test" and e.action == "allow"]
    assert allowed and all(e.url is None for e in allowed)


def test_http10_keep_alive_is_acknowledged(fresh: Net) -> None:
    with socket.create_connection(("127.0.0.1", fresh.proxy.port), timeout=5) as s:
        for _ in range(2):
            s.sendall(
                f"GET {fresh.url('cdn.test', '/k')} HTTP/1.0\r\n"
                "Connection: keep-alive\r\n\r\n".encode()
            )
            data = b""
            while not data.endswith(b"/k"):
                data += s.recv(4096)
            assert b"Connection: keep-alive" in data
