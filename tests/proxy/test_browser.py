"""A real browser through the proxy: headless Debian Chromium driven by Playwright.

The page lives on `site.test` and embeds first-party resources, a neutral third party
(`cdn.test`) and tracker resources on `tracker.test` (script, image, stylesheet, fetch,
beacon). All names are mapped to 127.0.0.1 by the proxy (`connect_to`); Chromium is told
to resolve nothing itself, so every request goes through the proxy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from proxy_helpers import Net, Origin, Seen

from chromium import CHROMIUM, through_proxy
from trackguard.policy.signals import SignalPlan

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
]


def page_html(host: str, cdn_port: int, tracker_port: int) -> str:
    """The test page of the site `host` ("site.test:port"): own, neutral and tracker parts."""
    site, www = f"http://{host}", f"http://www.{host}"
    cdn = f"http://cdn.test:{cdn_port}"
    tracker = f"http://tracker.test:{tracker_port}"
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


GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def serve_page(site: Origin, cdn: Origin, tracker: Origin) -> Callable[[], None]:
    """Make the site origin answer /index.html with `page_html` for the host asked and
    *.gif with a real GIF (the origin still records both). Returns the undo."""
    generic = site._respond

    async def respond(writer, seen: Seen, digest: str) -> bool:  # type: ignore[no-untyped-def]
        if seen.target == "/index.html":
            body = page_html(seen.header("Host")[0], cdn.port, tracker.port).encode()
            head = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        elif seen.target.endswith(".gif"):
            body, head = GIF, "HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\n"
        else:
            return await generic(writer, seen, digest)
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        return True

    site._respond = respond  # type: ignore[method-assign]

    def undo() -> None:
        site._respond = generic  # type: ignore[method-assign]

    return undo


def chromium_args(proxy_port: int) -> list[str]:
    """Headless Chromium through the proxy, resolving no name itself."""
    return through_proxy(proxy_port)


def load_page(page: Any, url: str) -> tuple[dict[str, Any], list[int], bool]:
    """Open the test page and wait for its fetches: (results, image widths, app.js ran)."""
    response = page.goto(url)
    assert response is not None and response.status == 200
    page.wait_for_function(
        "window.results && 'collect' in window.results && 'api' in window.results",
        timeout=15000,
    )
    page.wait_for_load_state("load")
    results = page.evaluate("window.results")
    images = page.evaluate("[...document.images].map(i => i.naturalWidth)")
    return results, images, bool(page.evaluate("window.loaded === true"))


@pytest.fixture
def chromium(fresh: Net) -> Iterator[object]:
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=chromium_args(fresh.proxy.port),
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
    undo = serve_page(fresh.site, fresh.cdn, fresh.tracker)
    try:
        page = chromium.new_page()  # type: ignore[attr-defined]
        url = f"http://site.test:{fresh.site.port}/index.html"
        results, images, app_loaded = load_page(page, url)
        page.close()
    finally:
        undo()

    # The trackers received nothing at all.
    assert fresh.tracker.seen == []
    # The page's own resources and the neutral third party all loaded.
    # (Chromium may also ask for /favicon.ico; whether it does is up to the browser.)
    site_targets = sorted(s.target for s in fresh.site.seen if s.target != "/favicon.ico")
    assert site_targets == ["/app.js", "/index.html", "/logo.gif", "/own.css"]
    assert sorted(s.target for s in fresh.cdn.seen) == ["/api.json", "/lib.js"]
    assert app_loaded
    assert results["api"].startswith("cdn ok")
    # Blocked resources were answered locally without breaking the page: the own logo
    # loaded, and the transparent GIF stands in for the tracking pixel.
    assert results["collect"] == 204
    assert images == [1, 1]
    # GPC on: the origin saw Sec-GPC: 1 on the page and its resources.
    for seen in fresh.site.seen:
        assert seen.header("Sec-GPC") == ["1"], seen.target
