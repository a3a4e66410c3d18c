"""Blocked responses by request type (TPL spec §A.8) and error responses."""

from __future__ import annotations

import pytest

from trackguard.model import RequestType
from trackguard.proxy.responses import (
    TRANSPARENT_GIF,
    blocked_parts,
    blocked_response,
    error_response,
    header_safe,
    tunnel_refused_parts,
)

CASES = [
    (RequestType.IMAGE, 200, "image/gif", TRANSPARENT_GIF),
    (RequestType.SCRIPT, 200, "application/javascript", b""),
    (RequestType.STYLESHEET, 200, "text/css", b""),
    (RequestType.XMLHTTPREQUEST, 204, None, b""),
    (RequestType.PING, 204, None, b""),
    (RequestType.FONT, 204, None, b""),
    (RequestType.OTHER, 204, None, b""),
    (RequestType.WEBSOCKET, 403, "text/plain; charset=utf-8", b"blocked by trackguard\n"),
]


@pytest.mark.parametrize(("rtype", "status", "ctype", "body"), CASES)
def test_blocked_parts_by_type(
    rtype: RequestType, status: int, ctype: str | None, body: bytes
) -> None:
    got_status, headers, got_body = blocked_parts(
        rtype, "-d t.test (l.tpl:3)", host="t.test", method="GET", request_headers={}
    )
    fields = dict(headers)
    assert got_status == status and got_body == body
    assert fields.get("Content-Type") == ctype
    assert fields["X-Trackguard-Blocked"] == "-d t.test (l.tpl:3)"
    assert fields["Cache-Control"] == "no-store"


def test_frame_gets_an_explanatory_page_with_escaped_text() -> None:
    status, headers, body = blocked_parts(
        RequestType.SUBDOCUMENT,
        "<script>x</script> (l.tpl:1)",
        host="t.test",
        method="GET",
        request_headers={},
    )
    assert status == 200 and dict(headers)["Content-Type"].startswith("text/html")
    assert b"&lt;script&gt;" in body and b"<script>x" not in body
    assert b"trackguard allow t.test" in body


def test_full_response_bytes_cors_and_head() -> None:
    data = blocked_response(
        RequestType.XMLHTTPREQUEST,
        "r (l:1)",
        host="t.test",
        method="POST",
        request_headers={"origin": "http://site.test"},
    )
    assert data.startswith(b"HTTP/1.1 204 No Content\r\n")
    # Issue 9 defect 9: never credentialed CORS, never the caller's origin echoed.
    assert b"Access-Control-Allow-Origin: *\r\n" in data
    assert b"Access-Control-Allow-Credentials" not in data
    assert b"site.test" not in data
    assert data.endswith(b"Content-Length: 0\r\n\r\n")
    head = blocked_response(RequestType.IMAGE, "r", host="t", method="HEAD", request_headers={})
    assert head.endswith(b"Content-Length: 43\r\n\r\n")
    closing = blocked_response(
        RequestType.IMAGE, "r", host="t", method="GET", request_headers={}, close=True
    )
    assert b"Connection: close\r\n" in closing


def test_header_safe_blocks_injection() -> None:
    assert header_safe("a\r\nSet-Cookie: x") == "a??Set-Cookie: x"
    assert header_safe("é") == "?"
    assert len(header_safe("x" * 1000)) == 300


def test_tunnel_refused_and_errors() -> None:
    status, fields, body = tunnel_refused_parts("-d t.test (l.tpl:3)", "t.test")
    assert status == 403 and ("Cache-Control", "no-store") in fields
    assert ("X-Trackguard-Blocked", "-d t.test (l.tpl:3)") in fields
    assert body == (
        b"trackguard blocked the connection to t.test: -d t.test (l.tpl:3)\n"
        b"To allow it: trackguard allow t.test\n"
    )
    err = error_response(502, "cannot resolve host x")
    assert err.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert err.endswith(b"trackguard: 502 Bad Gateway: cannot resolve host x\n")
