"""Headless Debian Chromium with an unpacked extension, driven by Playwright (tests only).

What works with Debian's Chromium: a persistent context, `headless=False` for
Playwright with `--headless=new` passed by hand (the new headless mode runs extensions),
plus `--load-extension` and `--disable-extensions-except`. Every host name resolves to
127.0.0.1 (`--host-resolver-rules`), optionally onto one port.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")


def chromium_args(extension: Path, resolver: str) -> list[str]:
    return [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--load-extension={extension}",
        f"--disable-extensions-except={extension}",
        f"--host-resolver-rules={resolver}",
    ]


@contextmanager
def extension_browser(
    extension: Path, profile: Path, resolver: str = "MAP * 127.0.0.1"
) -> Iterator[tuple[Any, Any]]:
    """(context, service worker) of Chromium running `extension`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=False,
            args=chromium_args(extension, resolver),
            timeout=120_000,
        )
        try:
            deadline = time.monotonic() + 60
            while not context.service_workers and time.monotonic() < deadline:
                time.sleep(0.1)
            if not context.service_workers:
                raise AssertionError("the extension's service worker never started")
            yield context, context.service_workers[0]
        finally:
            context.close()


class Recorder(http.server.ThreadingHTTPServer):
    """A loopback HTTP server that records (Host, path) and answers via `respond`."""

    daemon_threads = True

    def __init__(self, respond: Callable[[str, str], tuple[str, bytes]]) -> None:
        self.seen: list[tuple[str, str]] = []
        self.respond = respond
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        self.server.seen.append((host, self.path))
        ctype, body = self.server.respond(host, self.path)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass
