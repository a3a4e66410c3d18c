"""The dashboard in a real browser (headless Debian Chromium, Playwright), served by a running
proxy service that also carries the browser's page loads.

A user adds a list through the page; loads a page whose tracker is blocked and sees the
block appear in the live log with its rule; switches protection off for that site from the
log row and sees the next load pass; accepts a learner suggestion and sees it enforced.
Every page is photographed at desktop and phone widths (into `TRACKGUARD_SCREENSHOTS` or
the test's temporary folder) and checked with axe-core: no serious or critical violation.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from learn_hars import TRACKER, TRACKER_DOMAIN, write_visits
from proxy_helpers import TEST_HOSTS, LoopThread, Origin, Seen, hosts_map

from chromium import CHROMIUM, through_proxy
from trackguard.proxy.service import ProxyOptions, ProxyService
from trackguard.settings import Settings
from trackguard.web.app import WebApp

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
]
SECTIONS = ("overview", "log", "sites", "lists", "learn", "settings")
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
LEARN_SITES = ["news.example", "shop.example", "blog.example", "maps.example"]


class Running:
    def __init__(self, home: Path, extra_list: Path) -> None:
        from trackguard.subscriptions import engine_for, engine_key

        self.loop = LoopThread()
        self.site, self.tracker = Origin("site"), Origin("tracker")
        self.loop.run(self.site.start())
        self.loop.run(self.tracker.start())
        self._serve_page()

        def factory(settings: Settings) -> Any:
            return engine_for(home, (extra_list,), settings=settings)

        def key(settings: Settings) -> str:
            return str(engine_key(home, (extra_list,), settings=settings))

        options = ProxyOptions(
            host="127.0.0.1",
            port=0,
            local_app=WebApp(home),
            settings_poll=0.2,
            lists_poll=0.3,
            update_interval=3600.0,
        )
        self.service = ProxyService(options, home=home, engine_factory=factory, engine_key=key)
        server = self.loop.run(self.service.start())
        names = (*TEST_HOSTS, TRACKER, f"www.{TRACKER_DOMAIN}")
        server.ctx.connect_to.update(hosts_map(names))
        self.port = server.port

    def _serve_page(self) -> None:
        tracker = self.tracker
        generic = self.site._respond

        async def respond(writer: asyncio.StreamWriter, seen: Seen, digest: str) -> bool:
            if seen.target != "/index.html":
                return await generic(writer, seen, digest)
            body = (
                "<!doctype html><title>site</title>"
                f'<img id="px" src="http://tracker.test:{tracker.port}/pixel.gif">'
                f'<img id="learned" src="http://{TRACKER}:{tracker.port}/p.gif">'
            ).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            return True

        self.site._respond = respond  # type: ignore[method-assign]

    def close(self) -> None:
        self.loop.run(self.service.stop())
        self.loop.run(self.site.close())
        self.loop.run(self.tracker.close())
        self.loop.stop()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    home = tmp_path_factory.mktemp("home")
    folder = tmp_path_factory.mktemp("data")
    har = write_visits(folder / "visits.har", LEARN_SITES, [1, 0])
    env = {**os.environ, "TRACKGUARD_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "trackguard", "learn", "from-har", str(har), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    extra = folder / "trackers.tpl"
    extra.write_text("msFilterList\n-d tracker.test\n")
    run = Running(home, extra)
    yield run
    run.close()


@pytest.fixture(scope="module")
def browser(running: Running) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=through_proxy(running.port),
        )
        try:
            yield browser
        finally:
            browser.close()


def _dashboard(running: Running, section: str = "overview") -> str:
    return f"http://127.0.0.1:{running.port}/#{section}"


def _load_site(browser: Any, running: Running) -> None:
    page = browser.new_page()
    page.goto(f"http://site.test:{running.site.port}/index.html")
    page.wait_for_load_state("load")
    page.close()


def _tracker_hits(running: Running, path: str) -> int:
    return sum(1 for s in running.tracker.seen if s.target.startswith(path))


def test_add_a_list_through_the_page(browser: Any, running: Running, tmp_path: Path) -> None:
    listed = tmp_path / "my-list.tpl"
    listed.write_text("msFilterList\n-d ads.test\n")
    page = browser.new_page()
    page.goto(_dashboard(running, "lists"))
    page.get_by_label("Add a list by URL, file path or catalogue name").fill(str(listed))
    page.get_by_role("button", name="Add list").click()
    page.get_by_role("status").filter(has_text="added").wait_for(timeout=15000)
    page.get_by_role("cell", name="my-list", exact=False).first.wait_for(timeout=15000)
    page.close()


def test_live_log_then_site_switch_from_the_row(browser: Any, running: Running) -> None:
    dashboard = browser.new_page()
    dashboard.goto(_dashboard(running, "log"))
    dashboard.get_by_role("table").wait_for()
    _load_site(browser, running)
    assert _tracker_hits(running, "/pixel.gif") == 0
    # The block shows up with its rule and list:line (flush 0.5 s + poll 0.25 s by design;
    # the bound leaves room for a loaded machine).
    row = dashboard.locator("tr.block", has_text="tracker.test").filter(has_text="-d tracker.test")
    row.first.wait_for(timeout=2000)
    assert "trackers.tpl:2" in row.first.inner_text()
    row.first.get_by_role("button", name="Protection off on site.test").click()
    dashboard.get_by_role("status").filter(has_text="protection off on site.test").wait_for()
    # The running proxy re-reads the settings; the next load of the site passes.
    for _ in range(50):
        _load_site(browser, running)
        if _tracker_hits(running, "/pixel.gif"):
            break
    assert _tracker_hits(running, "/pixel.gif") >= 1
    dashboard.close()


def test_accept_a_suggestion_and_it_is_enforced(browser: Any, running: Running) -> None:
    before = _tracker_hits(running, "/p.gif")
    _load_site(browser, running)
    assert _tracker_hits(running, "/p.gif") > before  # learned, not yet enforced (suggest)
    page = browser.new_page()
    page.goto(_dashboard(running, "learn"))
    page.get_by_role("button", name=f"Accept {TRACKER_DOMAIN}").click()
    page.get_by_role("status").filter(has_text="accepted").wait_for()
    settings = json.loads((running.service.home / "settings.json").read_text())
    assert TRACKER_DOMAIN in settings["user_block"]
    # The running proxy re-reads the settings: soon a load of the site no longer reaches it.
    for _ in range(50):
        before = _tracker_hits(running, "/p.gif")
        _load_site(browser, running)
        if _tracker_hits(running, "/p.gif") == before:
            break
    before = _tracker_hits(running, "/p.gif")
    _load_site(browser, running)
    assert _tracker_hits(running, "/p.gif") == before
    page.close()


def test_screenshots_and_accessibility(browser: Any, running: Running, tmp_path: Path) -> None:
    from axe_playwright_python.sync_playwright import Axe

    folder = Path(os.environ.get("TRACKGUARD_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    axe = Axe()
    serious: list[str] = []
    for size, (width, height) in SIZES.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        for section in SECTIONS:
            page.goto(_dashboard(running, section))
            page.locator(f"#{section}").wait_for(state="visible")
            page.wait_for_timeout(300)  # the section's data arrives
            page.screenshot(path=str(folder / f"dashboard-{section}-{size}.png"), full_page=True)
            result = axe.run(page)
            for violation in result.response["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    serious.append(f"{section}/{size}: {violation['id']}: {violation['help']}")
        context.close()
    assert not serious, serious
    assert len(list(folder.glob("dashboard-*.png"))) == len(SECTIONS) * len(SIZES)


def test_keyboard_reaches_every_section(browser: Any, running: Running) -> None:
    page = browser.new_page()
    page.goto(_dashboard(running))
    seen = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.add(page.evaluate("document.activeElement.getAttribute('href')"))
    assert {f"#{s}" for s in SECTIONS} <= seen
    page.keyboard.press("Enter")
    page.close()
