"""End to end: headless Chromium through the proxy learns a tracker, the CLI accepts it,
and the next request to it is blocked with an explanation (issue 13, "Done means").

Plain-HTTP loopback sites with a fake clock, so `auto` mode and the daily recompute can be
shown too; the HTTPS version through `proxy --intercept` is test_learn_intercept.py. The
proxy is composed as `ProxyService.start` composes it (engine, `ProxyLearning`, planner
hook, settings reload) with `connect_to` mapping the test names to 127.0.0.1; the CLI runs
as real subprocesses on the same TRACKGUARD_HOME. A fake clock spreads visits over 2 days.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chromium import CHROMIUM, through_proxy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proxy"))
from proxy_helpers import LoopThread, Origin, Seen, hosts_map, make_matcher

from trackguard.learn.service import ProxyLearning
from trackguard.policy.decide import PolicyConfig
from trackguard.proxy.exchange import ProxyState
from trackguard.proxy.server import ProxyServer
from trackguard.settings import load_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
]
SITES = ["alpha.test", "beta.test", "gamma.test", "delta.test"]
TRACKER = "pixel.trackco.test"
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
DAY = 86400.0


def cli(home: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["TRACKGUARD_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-m", "trackguard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def serve(site: Origin, tracker: Origin) -> None:
    async def page(writer: Any, seen: Seen, digest: str) -> bool:
        host = seen.header("Host")[0].split(":")[0]
        body = (
            f"<!doctype html><title>{host}</title>"
            f'<img id="px" src="http://{TRACKER}:{tracker.port}/p.gif?cid=9f8e7d6c5b4a3f2e">'
        ).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        return True

    async def pixel(writer: Any, seen: Seen, digest: str) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\n"
            b"Set-Cookie: tid=4f9c2a7e81d35b60c2e94a1f; Max-Age=31536000; Path=/\r\n"
            + f"Content-Length: {len(GIF)}\r\n\r\n".encode()
            + GIF
        )
        await writer.drain()
        return True

    site._respond = page  # type: ignore[method-assign]
    tracker._respond = pixel  # type: ignore[method-assign]


def test_chromium_learned_tracker_is_suggested_accepted_and_blocked(tmp_path: Path) -> None:
    playwright_sync = pytest.importorskip("playwright.sync_api")
    home = tmp_path / "home"
    now = [time.time() - 2 * DAY]
    loop = LoopThread()
    site, tracker = Origin("site"), Origin("tracker")
    loop.run(site.start())
    loop.run(tracker.start())
    serve(site, tracker)
    settings = load_settings(home)
    matcher = make_matcher((("none.tpl", "msFilterList\n-d unrelated.example\n"),))
    learning = ProxyLearning(home, settings, matcher, clock=lambda: now[0])
    state = ProxyState(matcher, learning.with_learned(PolicyConfig.from_settings(settings)))
    proxy = ProxyServer(state, host="127.0.0.1", port=0, connect_to=hosts_map([*SITES, TRACKER]))
    proxy.planner.learner = learning.hook
    loop.run(proxy.start())

    def reload() -> None:  # what ProxyService.reload_settings does when settings.json changes
        new = load_settings(home)
        learning.reload(new)
        state.config = learning.with_learned(PolicyConfig.from_settings(new))

    blocked: list[str] = []
    try:
        with playwright_sync.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=through_proxy(proxy.port),
            )
            page = browser.new_page()

            def on_response(response: Any) -> None:
                header = response.headers.get("x-trackguard-blocked")
                if header and TRACKER in response.url:
                    blocked.append(header)

            page.on("response", on_response)

            def visit(host: str) -> None:
                page.goto(f"http://{host}:{site.port}/index.html")
                page.wait_for_load_state("load")

            for i, host in enumerate(SITES):  # two sites a day, over two days
                now[0] = time.time() - (2 - i // 2) * DAY + 1
                visit(host)
            assert len(tracker.seen) == 4 and not blocked
            loop.call(learning.close)  # the proxy saves its state (as on shutdown)

            items = json.loads(cli(home, "learn", "list", "--json"))
            item = next(i for i in items if i["domain"] == "trackco.test")
            assert item["sites"] == 4 and item["days"] >= 2
            assert item["action"] == "block" and item["enforced"] is False
            assert {"cookie", "pixel"} <= set(item["kinds"])
            assert not any(i["domain"].endswith("alpha.test") for i in items)

            # suggest mode: nothing changed yet
            now[0] = time.time()
            tracker.seen.clear()
            visit("alpha.test")
            assert len(tracker.seen) == 1 and not blocked

            cli(home, "learn", "accept", "trackco.test")
            loop.call(reload)
            tracker.seen.clear()
            visit("beta.test")
            assert tracker.seen == []
            assert blocked and "user-block" in blocked[-1]

            # auto mode, the suggestion rejected then re-learned: the personalized list
            # blocks it by itself, explained as a list rule
            cli(home, "learn", "reject", "trackco.test")
            cli(home, "learn", "mode", "auto")
            (home / "policy.sqlite3").unlink()  # forget the verdicts, keep the learning
            loop.call(reload)
            blocked.clear()
            visit("gamma.test")
            assert tracker.seen == []
            assert blocked == ["-d trackco.test (personalized)"]
            browser.close()
    finally:
        loop.run(proxy.close())
        loop.run(site.close())
        loop.run(tracker.close())
        loop.stop()
