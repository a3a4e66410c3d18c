"""A real HTTP server on 127.0.0.1 that serves lists, and misbehaves on request.

Used by the subscription tests and the `trackguard lists` CLI tests. Files come from the
shared corpus (read in place, never copied). A *feed* is one URL whose behaviour a test
switches between good answers and every failure a list publisher can produce:

    ok            200 with ETag and Last-Modified; 304 when the validators match
    gzip          like ok, with Content-Encoding: gzip
    gzfile        the body is a .gz file, served without Content-Encoding
    wrong-type    like ok, but Content-Type: image/png (must be ignored, TPL spec §A.9)
    404, 500      error statuses (500 counts hits, to observe retries)
    hang          headers never come
    drip          a few bytes every `drip_delay` seconds
    truncated     Content-Length says N, the connection closes after N/2 bytes
    latin1        the body re-encoded as ISO-8859-1 (not UTF-8)
    html          a 200 captive-portal style HTML page
    huge          Content-Length: 50 MB and a body to match
    huge-chunked  50 MB, chunked, no Content-Length
    gzip-bomb     50 MB of zeros gzip-compressed into ~50 kB
    loop          302 to itself forever
    redirects     `redirects` hops of 302, then the body
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HUGE = 50 * 1024 * 1024
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"


@dataclass
class Feed:
    body: bytes
    mode: str = "ok"
    etag: str | None = None
    redirects: int = 0
    drip_delay: float = 0.2
    hits: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)

    def set(self, body: bytes | None = None, *, mode: str | None = None) -> None:
        """Change the body (a new ETag with it) and/or the behaviour."""
        if body is not None:
            self.body = body
            self.etag = None
        if mode is not None:
            self.mode = mode

    @property
    def current_etag(self) -> str:
        return self.etag or '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@functools.cache
def _bomb() -> bytes:
    """50 MiB of zeros as 50 concatenated gzip members of 1 MiB: ~50 kB, built at once."""
    return gzip.compress(b"\0" * (1024 * 1024), compresslevel=9) * (HUGE // (1024 * 1024))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hang up on purpose here (size caps, kills); that is not an error."""

    def __init__(self, corpus: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.corpus = corpus
        self.feeds: dict[str, Feed] = {}
        self.release = threading.Event()  # ends hanging and dripping answers at shutdown


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/corpus/"):
            self._corpus(parts.path[len("/corpus/") :])
        elif parts.path.startswith("/feed/"):
            self._feed(parts.path[len("/feed/") :], parse_qs(parts.query))
        else:
            self._send(404, b"not here\n")

    # --- helpers ---------------------------------------------------------------------

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        all_headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
        for name, value in all_headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def _corpus(self, relative: str) -> None:
        path = (self.server.corpus / relative).resolve()
        if self.server.corpus.resolve() not in path.parents or not path.is_file():
            self._send(404, b"no such corpus file\n")
            return
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self._send(304, b"", {"ETag": etag})
            return
        self._send(200, body, {"ETag": etag, "Last-Modified": LAST_MODIFIED})

    def _feed(self, name: str, query: dict[str, list[str]]) -> None:
        feed = self.server.feeds.get(name)
        if feed is None:
            self._send(404, b"no such feed\n")
            return
        feed.hits += 1
        feed.requests.append({k.lower(): v for k, v in self.headers.items()})
        mode = feed.mode
        validators = {"ETag": feed.current_etag, "Last-Modified": LAST_MODIFIED}
        if mode in ("ok", "gzip", "gzfile", "wrong-type", "redirects"):
            if mode == "redirects":
                hop = int(query.get("hop", ["0"])[0])
                if hop < feed.redirects:
                    self._send(302, b"", {"Location": f"/feed/{name}?hop={hop + 1}"})
                    return
            if self.headers.get("If-None-Match") == feed.current_etag:
                self._send(304, b"", validators)
                return
            body, headers = feed.body, dict(validators)
            if mode == "gzip":
                body = gzip.compress(body)
                headers["Content-Encoding"] = "gzip"
            elif mode == "gzfile":
                body = gzip.compress(body)
                headers["Content-Type"] = "application/gzip"
            elif mode == "wrong-type":
                headers["Content-Type"] = "image/png"
            self._send(200, body, headers)
        elif mode in ("404", "500"):
            self._send(int(mode), f"error {mode}\n".encode())
        elif mode == "hang":
            self.server.release.wait(60)
        elif mode == "drip":
            self._drip(feed)
        elif mode == "truncated":
            self.send_response(200)
            self.send_header("Content-Length", str(len(feed.body)))
            self.end_headers()
            self.wfile.write(feed.body[: len(feed.body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif mode == "latin1":
            text = feed.body.decode("utf-8") + "# Übersetzung für café\n"
            self._send(200, text.encode("latin-1", "replace"), validators)
        elif mode == "html":
            page = b"<!DOCTYPE html>\n<html><head><title>Sign in to Wi-Fi</title></head>"
            self._send(200, page + b"<body><form>Log in</form></body></html>\n")
        elif mode == "huge":
            self._huge(chunked=False)
        elif mode == "huge-chunked":
            self._huge(chunked=True)
        elif mode == "gzip-bomb":
            self._send(200, _bomb(), {"Content-Encoding": "gzip"})
        elif mode == "loop":
            self._send(302, b"", {"Location": f"/feed/{name}"})
        else:
            raise AssertionError(f"unknown feed mode {mode}")

    def _drip(self, feed: Feed) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(feed.body)))
        self.end_headers()
        try:
            for start in range(0, len(feed.body), 64):
                self.wfile.write(feed.body[start : start + 64])
                self.wfile.flush()
                if self.server.release.wait(feed.drip_delay):
                    return
        except OSError:
            return

    def _huge(self, *, chunked: bool) -> None:
        line = b"||ads.huge.example^\n" * 3276  # ~64 kB of valid-looking rules
        self.send_response(200)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(HUGE))
        self.end_headers()
        sent = 0
        try:
            while sent < HUGE:
                piece = line[: HUGE - sent]
                if chunked:
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                else:
                    self.wfile.write(piece)
                sent += len(piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True


class ListServer:
    """Owns the server thread. `url(path)` builds addresses on it."""

    def __init__(self, corpus: Path) -> None:
        self._server = _Server(corpus)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ListServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    @property
    def feeds(self) -> dict[str, Feed]:
        return self._server.feeds

    def feed(self, name: str, body: bytes, *, mode: str = "ok") -> Feed:
        """Create (or reset) a feed and return it; its address is `url('feed/<name>')`."""
        feed = Feed(body=body, mode=mode)
        self._server.feeds[name] = feed
        return feed


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    """Poll a zero-argument callable until it returns true."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
