"""Headless Debian Chromium with an unpacked extension, driven by Playwright (tests only).

What works with Debian's Chromium: a persistent context, `headless=False` for
Playwright with `--headless=new` passed by hand (the new headless mode runs extensions),
plus `--load-extension` and `--disable-extensions-except`. Every host name resolves to
127.0.0.1 (`--host-resolver-rules`), optionally onto one port.
"""

from __future__ import annotations

import http.server
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proxy"))
import proxy_helpers

from chromium import CHROMIUM


def chromium_args(extension: Path, resolver: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        *extra,
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
    extension: Path,
    profile: Path,
    resolver: str = "MAP * 127.0.0.1",
    extra: tuple[str, ...] = (),
) -> Iterator[tuple[Any, Any]]:
    """(context, service worker) of Chromium running `extension`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=False,
            args=chromium_args(extension, resolver, extra),
            timeout=120_000,
        )
        try:
            yield context, _service_worker(context, extension)
        finally:
            context.close()


def _service_worker(context: Any, extension: Path) -> Any:
    """The extension's service worker, once Playwright sees it.

    The worker may start (and idle out) before Playwright attaches, and its start event
    can be missed on a busy machine: poll for it, and every 15 s open a page of the
    extension, which starts the worker again.
    """
    deadline = time.monotonic() + 150
    wake_at = time.monotonic() + 15
    while not context.service_workers:
        if time.monotonic() > deadline:
            raise TimeoutError("the extension's service worker did not start within 150 s")
        if time.monotonic() > wake_at:
            page = context.new_page()
            try:
                page.goto(f"chrome-extension://{extension_id(extension)}/popup.html")
                page.wait_for_timeout(500)
            finally:
                page.close()
            wake_at = time.monotonic() + 15
        time.sleep(0.1)
    return context.service_workers[0]


def extension_id(folder: Path) -> str:
    """Chromium's id for an unpacked extension: its absolute path's SHA-256, in a-p."""
    import hashlib

    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:32]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest)


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
    protocol_version = "HTTP/1.1"  # keep-alive: one TLS handshake per host, not per request

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


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throw-away certificate for the replay origin (Chromium ignores its errors)."""
    return proxy_helpers.self_signed_cert(folder, "replay.test", "DNS:replay.test")


class TlsRecorder(Recorder):
    """`Recorder` over TLS; the handshake runs in the connection's own thread, so a
    plain-HTTP client (an `http://` URL mapped onto this port) only fails itself."""

    def __init__(self, respond: Callable[[str, str], tuple[str, bytes]], cert: Path, key: Path):
        import ssl

        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        super().__init__(respond)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(10)
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except OSError:
            return
        super().finish_request(wrapped, client_address)
