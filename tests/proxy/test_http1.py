"""Strict HTTP/1.1 head parsing and framing (RFC 9112), including smuggling shapes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackguard.proxy.http1 import (
    Framing,
    HttpError,
    Limits,
    parse_absolute_target,
    parse_chunk_size,
    parse_request_head,
    parse_response_head,
    request_framing,
    response_framing,
    split_host_port,
    strip_hop_by_hop,
)


def test_parse_request_head() -> None:
    head = parse_request_head(b"GET http://a.test/x?y HTTP/1.1\r\nHost: a.test\r\nX:  v \r\n\r\n")
    assert (head.method, head.target, head.version) == ("GET", "http://a.test/x?y", "HTTP/1.1")
    assert head.headers == (("Host", "a.test"), ("X", "v"))
    assert head.get("host") == "a.test"


BAD_REQUESTS = [
    (b"GET / HTTP/1.1 x\r\n\r\n", 400),
    (b"GET  / HTTP/1.1\r\n\r\n", 400),
    (b"G\x00T / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/3\r\n\r\n", 505),
    (b"GET / FOO/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nNo-Colon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n: empty\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nA: b\nc\r\n\r\n", 400),
    (b"\x16\x03\x01\x00", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nA: " + b"a" * 9000 + b"\r\n\r\n", 431),
]


@pytest.mark.parametrize(("data", "status"), BAD_REQUESTS)
def test_bad_requests(data: bytes, status: int) -> None:
    with pytest.raises(HttpError) as info:
        parse_request_head(data)
    assert info.value.status == status


def test_header_count_and_size_limits() -> None:
    limits = Limits(max_headers=3, max_head=100)
    with pytest.raises(HttpError) as info:
        parse_request_head(b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 4 + b"\r\n", limits)
    assert info.value.status == 431
    with pytest.raises(HttpError):
        parse_request_head(b"GET / HTTP/1.1\r\nA: " + b"x" * 200 + b"\r\n\r\n", limits)


def framing_of(fields: bytes, version: bytes = b"HTTP/1.1") -> tuple[Framing, int]:
    return request_framing(parse_request_head(b"POST / " + version + b"\r\n" + fields + b"\r\n"))


def test_request_framing() -> None:
    assert framing_of(b"") == (Framing.NONE, 0)
    assert framing_of(b"Content-Length: 10\r\n") == (Framing.LENGTH, 10)
    assert framing_of(b"Content-Length: 5, 5\r\n") == (Framing.LENGTH, 5)
    assert framing_of(b"Transfer-Encoding: gzip, chunked\r\n") == (Framing.CHUNKED, 0)
    for smuggle in (
        b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: 1\r\nContent-Length: 2\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 0x10\r\n",
        b"Transfer-Encoding: chunked, gzip\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ):
        with pytest.raises(HttpError):
            framing_of(smuggle)
    with pytest.raises(HttpError):
        framing_of(b"Transfer-Encoding: chunked\r\n", b"HTTP/1.0")


def response(fields: bytes, status: bytes = b"200 OK") -> object:
    return parse_response_head(b"HTTP/1.1 " + status + b"\r\n" + fields + b"\r\n")


def test_response_framing() -> None:
    r = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
    assert response_framing(r, "GET") == (Framing.LENGTH, 3)
    assert response_framing(r, "HEAD") == (Framing.NONE, 0)
    r = parse_response_head(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert response_framing(r, "GET") == (Framing.NONE, 0)
    r = parse_response_head(b"HTTP/1.1 200 OK\r\n\r\n")
    assert response_framing(r, "GET") == (Framing.CLOSE, 0)
    r = parse_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert response_framing(r, "GET") == (Framing.CHUNKED, 0)
    r = parse_response_head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert response_framing(r, "GET") == (Framing.NONE, 0)
    for bad in (b"HTTP/2 200 OK\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n", b"garbage\r\n\r\n"):
        with pytest.raises(HttpError) as info:
            parse_response_head(bad)
        assert info.value.status == 502


def test_chunk_size() -> None:
    assert parse_chunk_size(b"1a\r\n") == 26
    assert parse_chunk_size(b"A;ext=1\r\n") == 10
    for bad in (b"\r\n", b"-1\r\n", b"zz\r\n", b"1" * 20 + b"\r\n"):
        with pytest.raises(HttpError):
            parse_chunk_size(bad)


def test_targets() -> None:
    t = parse_absolute_target("http://User@A.test:8080/p?q#frag")
    assert (t.scheme, t.host, t.port, t.path) == ("http", "A.test", 8080, "/p?q")
    assert t.url == "http://A.test:8080/p?q"
    t = parse_absolute_target("https://[::1]/")
    assert (t.host, t.port, t.authority) == ("::1", 443, "[::1]")
    assert parse_absolute_target("http://a.test?x").path == "/?x"
    for bad in ("/relative", "ftp://a.test/", "http://a.test:99999/", "http:///x", "http://a b/"):
        with pytest.raises(HttpError):
            parse_absolute_target(bad)
    assert split_host_port("a.test", 443) == ("a.test", 443)
    assert split_host_port("[2001:db8::1]:8443", 443) == ("2001:db8::1", 8443)
    longest = ".".join(["a" * 63] * 3) + "." + "b" * 61  # 253 characters: a DNS name
    assert split_host_port(f"{longest}:443", 80) == (longest, 443)
    with pytest.raises(HttpError, match="too long"):
        split_host_port("a" + longest, 443)
    with pytest.raises(HttpError, match="too long"):
        split_host_port("x" * 60_000 + ":443", 443)  # a hostile CONNECT target


def test_strip_hop_by_hop() -> None:
    fields = [
        ("Connection", "keep-alive, X-Secret"),
        ("X-Secret", "1"),
        ("Keep-Alive", "5"),
        ("Proxy-Authorization", "x"),
        ("TE", "trailers"),
        ("Accept", "*/*"),
    ]
    assert strip_hop_by_hop(fields) == [("Accept", "*/*")]


@given(st.binary(max_size=300))
def test_parser_never_crashes_on_garbage(data: bytes) -> None:
    try:
        parse_request_head(data + b"\r\n\r\n")
    except HttpError as exc:
        assert 400 <= exc.status < 600


# -- issue 9: Unicode digits, equal head caps ----------------------------------------------


@pytest.mark.parametrize("value", ["²", "1²", "٣", "４"])
def test_unicode_digits_are_refused_not_crashing(value: str) -> None:
    from trackguard.proxy.http1 import ascii_digits

    assert not ascii_digits(value)
    head = f"POST http://a.test/ HTTP/1.1\r\nContent-Length: {value}\r\n\r\n".encode()
    with pytest.raises(HttpError) as error:
        request_framing(parse_request_head(head))
    assert error.value.status == 400
    with pytest.raises(HttpError):
        split_host_port(f"a.test:8{value}", 80)
    status = f"HTTP/1.1 2{value}0 OK\r\n\r\n".encode()
    with pytest.raises(HttpError):
        parse_response_head(status)


def test_response_head_over_the_cap_is_refused() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 4000 + b"\r\n"
    big = b"HTTP/1.1 200 OK\r\n" + (b"X-Big: " + b"a" * 4000 + b"\r\n") * 30 + b"\r\n"
    with pytest.raises(HttpError) as error:
        parse_response_head(big)
    assert error.value.status == 502
    assert parse_response_head(head + b"\r\n").status == 200
