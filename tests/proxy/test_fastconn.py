"""The fast path (`proxy/fastconn.py`) end to end: pipelining, and the hand-over to the
stream code in the middle of a response, on the shared proxy of `conftest.py`."""

from __future__ import annotations

import socket

from proxy_helpers import Net

BROWSER_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def navigate(net: Net, s: socket.socket) -> None:
    """A typed-address navigation on an open connection (opens site.test's page context)."""
    s.sendall(
        f"GET {net.url('site.test', '/page.html')} HTTP/1.1\r\nHost: h\r\n"
        f"Accept: {BROWSER_HTML}\r\n\r\n".encode()
    )
    data = b""
    while not data.endswith(b"<p>site</p>"):
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk


def read_until(s: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    return data


def test_pipelined_requests_are_answered_in_order_including_a_blocked_one(fresh: Net) -> None:
    """Three requests in one packet: allowed, blocked (answered locally), allowed. The
    answers must leave in request order even though two go upstream and one does not."""
    referer = f"Referer: {fresh.url('site.test', '/page.html')}\r\n"
    with socket.create_connection(("127.0.0.1", fresh.proxy.port), timeout=10) as s:
        navigate(fresh, s)  # site.test is an engaged page context
    heads = b"".join(
        f"GET {url} HTTP/1.1\r\nHost: h\r\n{referer}\r\n".encode()
        for url in (
            fresh.url("site.test", "/one"),
            fresh.url("tracker.test", "/t.js"),
            fresh.url("cdn.test", "/two"),
        )
    )
    with socket.create_connection(("127.0.0.1", fresh.proxy.port), timeout=10) as s:
        s.sendall(heads)
        data = b""
        while data.count(b"HTTP/1.1 ") < 3 or not data.endswith(b"cdn ok /two"):
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    first, second, third = (
        data.index(m) for m in (b"site ok /one", b"X-Trackguard-Blocked", b"cdn ok /two")
    )
    assert first < second < third
    assert fresh.tracker.seen == []


def test_a_response_the_fast_path_cannot_relay_is_handed_over_mid_exchange(fresh: Net) -> None:
    """A chunked answer to a simple GET: the fast path has sent the request, the stream
    code relays the response and keeps serving the connection after it."""
    with socket.create_connection(("127.0.0.1", fresh.proxy.port), timeout=10) as s:
        answers = []
        for path, end in (("/x", b"/x"), ("/chunked", b"0\r\n\r\n"), ("/y", b"/y")):
            s.sendall(f"GET {fresh.url('cdn.test', path)} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            answers.append(read_until(s, end))
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") for a in answers), answers
    assert b"Transfer-Encoding: chunked\r\n" in answers[1]
    assert answers[1].endswith(b"\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert [seen.target for seen in fresh.cdn.seen] == ["/x", "/chunked", "/y"]
