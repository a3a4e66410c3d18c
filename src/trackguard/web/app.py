"""The dashboard as the proxy serves it: a request for the proxy itself in, bytes out.

`WebApp.serve` is called by the proxy's stream path for every request addressed to the
proxy (not relayed), except `/proxy.pac`. It checks the request (`guard.Guard`), then
serves the page and its two static files, the JSON reads, the actions, and the live log as
server-sent events. The proxy never imports this package: the CLI builds the app and hands
it to the proxy as its `local_app`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from trackguard.model import TrackguardError
from trackguard.proxy.responses import build_response
from trackguard.web import api
from trackguard.web.guard import SECURITY_HEADERS, TOKEN_HEADER, Guard, load_secret

#: Largest action body accepted (JSON of a few fields).
MAX_BODY = 64 * 1024
#: Seconds between looks at the decision log for the live view.
POLL_SECONDS = 0.25
#: A live view ends after this long; the page reconnects (bounds a forgotten tab's cost).
STREAM_SECONDS = 600.0

_STATIC = {
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}

Send = Callable[[bytes], Awaitable[None]]


def _asset(name: str) -> bytes:
    return resources.files("trackguard.web").joinpath("static", name).read_bytes()


class WebApp:
    def __init__(self, home: Path, *, ports: Iterable[int] = ()) -> None:
        self.home = home
        self.secret = load_secret(home)
        self.guard = Guard(self.secret, ports)

    def listen_on(self, ports: Iterable[int]) -> None:
        """The proxy's port(s), once known (port 0 picks one): the Host check needs them."""
        self.guard = Guard(self.secret, ports)

    def wants(self, path: str) -> bool:
        return path in ("/", "/index.html") or path.startswith(("/static/", "/api/"))

    async def serve(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        send: Send,
        *,
        keep: bool,
    ) -> bool:
        """Answer one request; returns whether the connection may stay open."""
        parts = urlsplit(target)
        path = parts.path
        refusal = self.guard.check(method, path, headers)
        if refusal is not None:
            await send(self._text(refusal.status, refusal.reason, keep=False))
            return False
        if path == "/api/events" and method == "GET":
            after = _int(parse_qs(parts.query).get("after", [""])[0])
            await self._events(send, after)
            return False
        try:
            status, ctype, data = await asyncio.to_thread(
                self._route, method, path, parts.query, body
            )
        except api.ActionError as exc:
            status, ctype = 400, "application/json"
            data = json.dumps({"ok": False, "error": str(exc)}).encode()
        except TrackguardError as exc:
            # e.g. a hand-edited settings.json with a typo: say where, change nothing.
            status, ctype = 409, "application/json"
            data = json.dumps({"ok": False, "error": str(exc)}).encode()
        await send(
            build_response(
                status,
                [("Content-Type", ctype), *SECURITY_HEADERS],
                data,
                close=not keep,
                head_only=method == "HEAD",
            )
        )
        return keep

    def _route(self, method: str, path: str, query: str, body: bytes) -> tuple[int, str, bytes]:
        if method in ("GET", "HEAD"):
            if path in ("/", "/index.html"):
                page = _asset("index.html").replace(b"{{csrf}}", self.guard.token.encode("ascii"))
                return 200, "text/html; charset=utf-8", page
            if path == "/api/learn/export.tpl":
                text = api.learn_export(self.home)
                return 200, "text/plain; charset=utf-8", text.encode()
            if path in _STATIC:
                name, ctype = _STATIC[path]
                return 200, ctype, _asset(name)
            reads: dict[str, Callable[[], dict[str, Any]]] = {
                "/api/overview": lambda: api.overview(self.home),
                "/api/log": lambda: api.log_rows(
                    self.home, _int(parse_qs(query).get("after", [""])[0])
                ),
                "/api/sites": lambda: api.sites(self.home),
                "/api/lists": lambda: api.lists(self.home),
                "/api/learn": lambda: api.learn(self.home),
                "/api/settings": lambda: api.settings_view(self.home),
            }
            read = reads.get(path)
            if read is None:
                return 404, "text/plain; charset=utf-8", b"not found\n"
            return 200, "application/json", json.dumps(read()).encode()
        if method == "POST" and path.startswith("/api/action/"):
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                raise api.ActionError("the request body is not JSON") from None
            if not isinstance(payload, dict):
                raise api.ActionError("the request body must be a JSON object")
            result = api.act(self.home, path.removeprefix("/api/action/"), payload)
            return 200, "application/json", json.dumps(result).encode()
        return 405, "text/plain; charset=utf-8", b"method not allowed\n"

    async def _events(self, send: Send, after: int | None) -> None:
        """Server-sent events: each new decision-log row as one `data:` line of JSON."""
        await send(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
            + b"".join(f"{k}: {v}\r\n".encode() for k, v in SECURITY_HEADERS)
            + b"\r\n: live decisions\n\n"
        )
        loop = asyncio.get_running_loop()
        end = loop.time() + STREAM_SECONDS
        path = self.home
        if after is None:
            after = (await asyncio.to_thread(api.log_rows, path, None))["last"]
        while loop.time() < end:
            data = await asyncio.to_thread(api.log_rows, path, after)
            after = data["last"]
            chunk = b"".join(
                b"id: %d\ndata: %s\n\n" % (after, json.dumps(row).encode()) for row in data["rows"]
            )
            await send(chunk or b": idle\n\n")  # also finds a client that went away
            await asyncio.sleep(POLL_SECONDS)

    @staticmethod
    def _text(status: int, message: str, *, keep: bool) -> bytes:
        return build_response(
            status,
            [("Content-Type", "text/plain; charset=utf-8"), *SECURITY_HEADERS],
            f"trackguard dashboard: {message}\n".encode(),
            close=not keep,
        )


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 19 else None


__all__ = ["TOKEN_HEADER", "WebApp"]
