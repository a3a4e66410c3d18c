"""A real browser through the proxy: headless Debian Chromium driven by Playwright.

The page lives on `site.test` and embeds first-party resources, a neutral third party
(`cdn.test`) and tracker resources on `tracker.test` (script, image, stylesheet, fetch,
beacon). All names are mapped to 127.0.0.1 by the proxy (`connect_to`); Chromium is told
to resolve nothing itself, so every request goes through the proxy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_helpers import Net

from trackguard.proxy.signals import SignalPlan

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
]


def page_html(net: Net) -> str:
    site = f"http://site.test:{net.site.port}"
    www = f"http://www.site.test:{net.site.port}"
    cdn = f"http://cdn.test:{net.cdn.port}"
    tracker = f"http://tracker.test:{net.tracker.port}"
    return f"""<!doctype html><html><head>
<link rel="stylesheet" href="{tracker}/track.css">
<link rel="stylesheet" href="{site}/own.css">
<script src="{www}/app.js"></script>
<script src="{cdn}/lib.js"></script>
<script src="{tracker}/t.js"></script>
</head><body>
<img id="own" src="{site}/logo.gif">
<img id="px" src="{tracker}/pixel.gif?uid=1">
<script>
  window.results = {{}};
  fetch("{tracker}/collect", {{method: "POST", body: "x"}})
    .then(r => window.results.collect = r.status).catch(e => window.results.collect = "error");
  fetch("{cdn}/api.json").then(r => r.text()).then(t => window.results.api = t)
    .catch(e => window.results.api = "error");
  navigator.sendBeacon("{tracker}/beacon", "x");
</script>
</body></html>"""


@pytest.fixture
def chromium(fresh: Net) -> Iterator[object]:
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                f"--proxy-server=http://127.0.0.1:{fresh.proxy.port}",
                "--proxy-bypass-list=<-loopback>",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            ],
            env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")},
        )
        try:
            yield browser
        finally:
            browser.close()


def test_browser_page_loads_own_resources_and_trackers_get_nothing(
    fresh: Net, chromium: object
) -> None:
    fresh.configure(signals=SignalPlan(gpc=True))
    html = page_html(fresh)
    # The site origin serves the page under /index.html via its generic handler: use a
    # route that returns our HTML instead, so the origin still sees the request.
    site_pages = fresh.site

    original = site_pages._respond

    async def respond(writer, seen, digest):  # type: ignore[no-untyped-def]
        if seen.target == "/index.html":
            body = html.encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            return True
        if seen.target.endswith(".gif"):
            gif = bytes.fromhex(
                "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000"
                "02024401003b"
            )
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\n"
                + f"Content-Length: {len(gif)}\r\n\r\n".encode()
                + gif
            )
            await writer.drain()
            return True
        return await original(writer, seen, digest)

    site_pages._respond = respond  # type: ignore[method-assign]
    try:
        page = chromium.new_page()  # type: ignore[attr-defined]
        response = page.goto(f"http://site.test:{fresh.site.port}/index.html")
        assert response is not None and response.status == 200
        page.wait_for_function(
            "window.results && 'collect' in window.results && 'api' in window.results",
            timeout=15000,
        )
        page.wait_for_load_state("load")
        results = page.evaluate("window.results")
        own_img = page.evaluate("document.getElementById('own').naturalWidth")
        px_img = page.evaluate("document.getElementById('px').naturalWidth")
        app_loaded = page.evaluate("window.loaded === true")
        page.close()
    finally:
        site_pages._respond = original  # type: ignore[method-assign]

    # The trackers received nothing at all.
    assert fresh.tracker.seen == []
    # The page's own resources and the neutral third party all loaded.
    # (Chromium may also ask for /favicon.ico; whether it does is up to the browser.)
    site_targets = sorted(s.target for s in fresh.site.seen if s.target != "/favicon.ico")
    assert site_targets == ["/app.js", "/index.html", "/logo.gif", "/own.css"]
    assert sorted(s.target for s in fresh.cdn.seen) == ["/api.json", "/lib.js"]
    assert own_img == 1 and app_loaded
    assert results["api"].startswith("cdn ok")
    # Blocked resources were answered locally without breaking the page.
    assert results["collect"] == 204
    assert px_img == 1  # the transparent GIF stands in for the tracking pixel
    # GPC on: the origin saw Sec-GPC: 1 on the page and its resources.
    for seen in fresh.site.seen:
        assert seen.header("Sec-GPC") == ["1"], seen.target
