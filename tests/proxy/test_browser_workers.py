"""A real browser through two proxy workers sharing one port (`trackguard proxy --workers 2`).

Two `ProxyServer`s, each on its own event loop (as in separate worker processes), serve
their own SO_REUSEPORT socket on one port, so the kernel spreads Chromium's connections
over them; their `NavigationRecord`s are joined by `RecordSync`. A page's navigation and
its subresources thus land on different workers, and the trackers must still get nothing.
Each load is a fresh first-party site (`siteN.test`), so no load can lean on a page
context that a worker opened itself in an earlier load.
"""

from __future__ import annotations

import contextlib
import os
import socket

import pytest
from proxy_helpers import TEST_HOSTS, LoopThread, Origin, hosts_map, make_matcher
from test_browser import CHROMIUM, chromium_args, load_page, serve_page

from trackguard.policy.attribution import NavigationRecord, PageContext, site_of_url
from trackguard.policy.decide import PolicyConfig
from trackguard.proxy.server import ProxyServer, ProxyState
from trackguard.proxy.workers import RecordSync, listen_sockets

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
]

MIN_LOADS, MAX_LOADS = 3, 8


class WatchedRecord(NavigationRecord):
    """Notes the sites this worker opened itself and the sites it attributed requests to."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: set[str] = set()
        self.attributed: set[str] = set()

    def engage(self, url: str) -> None:
        super().engage(url)
        self.opened.add(site_of_url(url))

    def context_for(self, initiator_origin: str) -> PageContext | None:
        context = super().context_for(initiator_origin)
        if context is not None:
            self.attributed.add(context.site)
        return context


def test_browser_attribution_holds_across_two_workers_on_one_port() -> None:
    playwright_sync = pytest.importorskip("playwright.sync_api")
    site, tracker, cdn = Origin("site"), Origin("tracker"), Origin("cdn")
    sites = [f"site{n}.test" for n in range(MAX_LOADS)]
    connect_to = hosts_map([*TEST_HOSTS, *sites, *(f"www.{s}" for s in sites)])
    records = [WatchedRecord(), WatchedRecord()]
    # Callbacks run last-in first-out, each even if an earlier one fails.
    with contextlib.ExitStack() as cleanup:
        origins_loop, loops = LoopThread(), [LoopThread(), LoopThread()]
        for loop in (origins_loop, *loops):
            cleanup.callback(loop.stop)
        for origin in (site, tracker, cdn):
            origins_loop.run(origin.start())
            cleanup.callback(_close, origins_loop, origin)
        cleanup.callback(serve_page(site, cdn, tracker))
        sockets = listen_sockets("127.0.0.1", 0, 2)  # what `--workers 2` opens
        port = sockets[0].getsockname()[1]
        for sock in sockets:
            cleanup.callback(sock.close)
        pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        syncs = [RecordSync(record, [end]) for record, end in zip(records, pair, strict=True)]
        proxies = []
        for loop, sync, record, sock in zip(loops, syncs, records, sockets, strict=True):
            cleanup.callback(loop.call, sync.close)
            loop.call(sync.start)
            state = ProxyState(make_matcher(), PolicyConfig(), record)
            proxies.append(ProxyServer(state, sock=sock, connect_to=connect_to))
            loop.run(proxies[-1].start())
            cleanup.callback(_close, loop, proxies[-1])
        pw = cleanup.enter_context(playwright_sync.sync_playwright())
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=chromium_args(port),
            env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")},
        )
        cleanup.callback(browser.close)
        loads, borrowed = 0, [set[str](), set[str]()]
        for loads, name in enumerate(sites, 1):
            context = browser.new_context()  # fresh cache and connections for each load
            try:
                page = context.new_page()
                url = f"http://{name}:{site.port}/index.html"
                results, images, app_loaded = load_page(page, url)
                assert app_loaded, name
            finally:
                context.close()
            assert tracker.seen == [], f"load {loads} ({name}) leaked to the tracker"
            assert results["api"].startswith("cdn ok") and results["collect"] == 204
            assert images == [1, 1]  # own logo, and the stand-in for the pixel
            borrowed = [loops[i].run(_borrowed(records[i])) for i in (0, 1)]
            if loads >= MIN_LOADS and all(p.requests for p in proxies) and any(borrowed):
                break

    served = [p.requests for p in proxies]
    assert all(served), f"after {loads} loads one worker served nothing: {served}"
    assert any(borrowed), f"after {loads} loads no request was attributed across workers"
    assert tracker.seen == []
    targets = sorted(s.target for s in site.seen if s.target != "/favicon.ico")
    assert targets == sorted(["/app.js", "/index.html", "/logo.gif", "/own.css"] * loads)
    assert sorted(s.target for s in cdn.seen) == sorted(["/api.json", "/lib.js"] * loads)
    assert syncs[0].sent + syncs[1].sent >= loads  # at least one page event per load
    assert syncs[0].dropped == syncs[1].dropped == 0


def _close(loop: LoopThread, closable: Origin | ProxyServer) -> None:
    loop.run(closable.close())


async def _borrowed(record: WatchedRecord) -> set[str]:
    """Sites this worker attributed requests to without having seen their navigation."""
    return record.attributed - record.opened
