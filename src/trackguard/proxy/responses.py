"""Responses the proxy makes up itself: blocked requests, refused tunnels, errors. No I/O.

What a block means (TPL spec §A.8, last Decision): the request never reaches the network;
the client gets a response that does not break the page. Per request type:

- image: a 1x1 transparent GIF (a 204 would fire `onerror`, which pages react to);
- script / stylesheet: `200` with an empty body of that type (an error status would fire
  `onerror` and stop `onload` callbacks pages wait for);
- frame: a small explanatory page naming the rule and list;
- websocket: `403` (a handshake cannot be faked);
- everything else (XHR/fetch, beacons, fonts, media...): an empty `204`.

Every blocked response carries `X-Trackguard-Blocked: <rule> (<list>:<line>)` and is never
cached. Cross-origin fetches get the CORS headers that let the page read the empty answer,
since a CORS failure would reject the page's promise and break scripts. Never credentialed
CORS (issue 9 defect 9): echoing any `Origin` with `Access-Control-Allow-Credentials`
let every page probe whether the proxy runs and what the user's lists block, reading
responses as the user. A wildcard origin without credentials reveals no header
(`X-Trackguard-Blocked` is not exposed) and satisfies uncredentialed fetches.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from trackguard.model import RequestType
from trackguard.proxy.http1 import serialize_head

#: Smallest transparent GIF (43 bytes).
TRANSPARENT_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)

_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    508: "Loop Detected",
}

BLOCK_HEADER = "X-Trackguard-Blocked"

#: A local answer before it becomes bytes: status, header fields, body. The proxy
#: serializes it (`build_response`); the mitmproxy addon hands it to mitmproxy.
Answer = tuple[int, list[tuple[str, str]], bytes]


def reason_phrase(status: int) -> str:
    return _REASONS.get(status, "Unknown")


def header_safe(text: str, limit: int = 300) -> str:
    """Make list text safe for a header value: printable ASCII only, bounded length.

    Rule text comes from downloaded lists, so a hostile list must not be able to inject
    header lines or bytes a client would choke on.
    """
    out = "".join(c if " " <= c <= "~" else "?" for c in text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def build_response(
    status: int,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    *,
    close: bool = False,
    head_only: bool = False,
) -> bytes:
    """A complete response; `head_only` for HEAD requests (same fields, no body)."""
    headers = [*headers, ("Content-Length", str(len(body)))]
    if close:
        headers.append(("Connection", "close"))
    head = serialize_head(f"HTTP/1.1 {status} {reason_phrase(status)}", headers)
    return head if head_only else head + body


def _cors(request_headers: Mapping[str, str]) -> list[tuple[str, str]]:
    origin = request_headers.get("origin", "")
    if not origin:
        return []
    out = [("Access-Control-Allow-Origin", "*")]
    wanted = request_headers.get("access-control-request-headers")
    if wanted:
        out.append(("Access-Control-Allow-Headers", header_safe(wanted)))
    method = request_headers.get("access-control-request-method")
    if method:
        out.append(("Access-Control-Allow-Methods", header_safe(method)))
    return out


def _frame_page(explanation: str, host: str) -> bytes:
    text = (
        "<!doctype html><html><head><meta charset=utf-8><title>Blocked by trackguard</title>"
        "<style>body{font:13px sans-serif;color:#555;background:#f6f6f6;margin:8px}"
        "code{color:#333}</style></head><body>"
        f"<p>trackguard blocked this frame from <b>{html.escape(host)}</b>.</p>"
        f"<p>Rule: <code>{html.escape(explanation)}</code></p>"
        "<p>To allow it: <code>trackguard allow "
        f"{html.escape(host)}</code> or turn protection off for this site.</p>"
        "</body></html>"
    )
    return text.encode("utf-8")


def blocked_parts(
    rtype: RequestType,
    explanation: str,
    *,
    host: str,
    method: str,
    request_headers: Mapping[str, str],
) -> Answer:
    """Status, header fields and body of the local answer to a blocked request (§A.8).

    `explanation` is `policy.decide.explain(verdict)`."""
    headers = [
        (BLOCK_HEADER, header_safe(explanation)),
        ("Cache-Control", "no-store"),
        *_cors(request_headers),
    ]
    if method == "OPTIONS" and "access-control-request-method" in request_headers:
        return 204, headers, b""  # a CORS preflight: the real request is blocked anyway
    if rtype is RequestType.IMAGE:
        return 200, [*headers, ("Content-Type", "image/gif")], TRANSPARENT_GIF
    if rtype is RequestType.SCRIPT:
        return 200, [*headers, ("Content-Type", "application/javascript")], b""
    if rtype is RequestType.STYLESHEET:
        return 200, [*headers, ("Content-Type", "text/css")], b""
    if rtype in (RequestType.SUBDOCUMENT, RequestType.DOCUMENT):
        body = _frame_page(explanation, host)
        return 200, [*headers, ("Content-Type", "text/html; charset=utf-8")], body
    if rtype is RequestType.WEBSOCKET:
        ctype = ("Content-Type", "text/plain; charset=utf-8")
        return 403, [*headers, ctype], b"blocked by trackguard\n"
    return 204, headers, b""


def blocked_response(
    rtype: RequestType,
    explanation: str,
    *,
    host: str,
    method: str,
    request_headers: Mapping[str, str],
    close: bool = False,
) -> bytes:
    """The complete local answer to a blocked request, head and body, as bytes."""
    answer = blocked_parts(
        rtype, explanation, host=host, method=method, request_headers=request_headers
    )
    return blocked_bytes(answer, rtype, method=method, close=close)


def blocked_bytes(answer: Answer, rtype: RequestType, *, method: str, close: bool) -> bytes:
    """`blocked_parts` as bytes: no body for HEAD; a refused WebSocket also closes."""
    status, headers, body = answer
    close = close or rtype is RequestType.WEBSOCKET
    return build_response(status, headers, body, close=close, head_only=method == "HEAD")


def tunnel_refused_parts(explanation: str, host: str) -> Answer:
    """A blocked CONNECT: 403 with a short explanation (§A.7 item 6)."""
    body = (
        f"trackguard blocked the connection to {host}: {explanation}\n"
        f"To allow it: trackguard allow {host}\n"
    ).encode("utf-8", "replace")
    headers = [
        (BLOCK_HEADER, header_safe(explanation)),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Cache-Control", "no-store"),
    ]
    return 403, headers, body


def error_response(status: int, message: str, *, close: bool = True) -> bytes:
    """A proxy error (400/408/431/502/504...) with a one-line plain-text reason."""
    body = f"trackguard: {status} {reason_phrase(status)}: {message}\n".encode("utf-8", "replace")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("X-Trackguard-Error", header_safe(message)),
    ]
    return build_response(status, headers, body, close=close)


TUNNEL_ESTABLISHED = b"HTTP/1.1 200 Connection Established\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
