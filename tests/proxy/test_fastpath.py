"""The byte-level shortcuts agree with the general HTTP parser wherever they answer."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trackguard.proxy.fastpath import (
    header_map,
    parse_simple_request,
    plain_response,
)
from trackguard.proxy.http1 import (
    Framing,
    HttpError,
    Limits,
    parse_absolute_target,
    parse_request_head,
    parse_response_head,
    request_framing,
    response_framing,
    strip_hop_by_hop,
)

LIMITS = Limits()


def _message(first_line: str, fields: list[tuple[str, str]]) -> bytes:
    """A message head as a peer would send it (UTF-8, so non-ASCII text becomes obs-text)."""
    lines = [first_line, *(f"{name}: {value}" for name, value in fields), "", ""]
    return "\r\n".join(lines).encode()


# -- requests ------------------------------------------------------------------------------


def test_simple_get_is_parsed_like_the_general_parser() -> None:
    data = (
        b"GET http://Tracker.Example:8080/a/b.js?x=1 HTTP/1.1\r\nHost: tracker.example:8080\r\n"
        b"Referer:  http://site.example/ \r\nConnection: keep-alive, X-Hop\r\n"
        b"Proxy-Connection: close\r\nReferer: http://second.example/\r\n\r\n"
    )
    fast = parse_simple_request(data, LIMITS)
    assert fast is not None
    assert fast.head() == parse_request_head(data)
    assert (fast.method, fast.version) == ("GET", "HTTP/1.1")
    assert (fast.host, fast.port, fast.path) == ("Tracker.Example", 8080, "/a/b.js?x=1")
    assert fast.authority == "Tracker.Example:8080"
    assert fast.url == "http://Tracker.Example:8080/a/b.js?x=1"
    assert fast.lower["referer"] == "http://site.example/"  # first value, trimmed
    assert fast.tokens == frozenset({"keep-alive", "x-hop", "close"})
    assert (fast.lower, fast.tokens) == header_map(fast.headers)


@pytest.mark.parametrize(
    ("target", "url", "path"),
    [
        (b"http://a.test", "http://a.test/", "/"),
        (b"http://a.test:80/x", "http://a.test/x", "/x"),
        (b"http://a.test:0080/x", "http://a.test/x", "/x"),
        (b"http://127.0.0.1:8118/", "http://127.0.0.1:8118/", "/"),
    ],
)
def test_targets_are_normalised_as_the_general_parser_does(
    target: bytes, url: str, path: str
) -> None:
    data = b"HEAD " + target + b" HTTP/1.0\r\n\r\n"
    fast = parse_simple_request(data, LIMITS)
    assert fast is not None
    general = parse_absolute_target(parse_request_head(data).target)
    assert (fast.url, fast.path) == (url, path) == (general.url, general.path)
    assert fast.version == "HTTP/1.0"
    assert fast.headers == ()


@pytest.mark.parametrize(
    "data",
    [
        # Bodies, interim responses and protocol switches belong to the stream code.
        b"GET http://a.test/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"GET http://a.test/ HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
        b"GET http://a.test/ HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
        b"GET http://a.test/ HTTP/1.1\r\nConnection: Upgrade\r\nUPGRADE: websocket\r\n\r\n",
        b"POST http://a.test/ HTTP/1.1\r\n\r\n",
        b"get http://a.test/ HTTP/1.1\r\n\r\n",
        b"CONNECT a.test:443 HTTP/1.1\r\n\r\n",
        # Targets the general parser must judge or normalise.
        b"GET https://a.test/ HTTP/1.1\r\n\r\n",
        b"GET HTTP://a.test/ HTTP/1.1\r\n\r\n",
        b"GET /relative HTTP/1.1\r\n\r\n",
        b"GET http://user@a.test/ HTTP/1.1\r\n\r\n",
        b"GET http://[::1]:8080/ HTTP/1.1\r\n\r\n",
        b"GET http://a.test?q=1 HTTP/1.1\r\n\r\n",
        b"GET http://a.test/#frag HTTP/1.1\r\n\r\n",
        b"GET http://a.test:0/ HTTP/1.1\r\n\r\n",
        b"GET http://a.test:70000/ HTTP/1.1\r\n\r\n",
        b"GET http://a.test/\xc3\xa9 HTTP/1.1\r\n\r\n",
        b"GET http://a.test/ HTTP/2.0\r\n\r\n",
        # Malformed fields: the general parser names the problem.
        b"GET http://a.test/ HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET http://a.test/ HTTP/1.1\r\n Folded: x\r\n\r\n",
        b"GET http://a.test/ HTTP/1.1\r\nX: a\nY: b\r\n\r\n",
        b"GET http://a.test/ HTTP/1.1\r\nX: a\x00\r\n\r\n",
        b"GET http://a.test/ HTTP/1.1\r\nNoColon\r\n\r\n",
    ],
)
def test_anything_unusual_is_left_to_the_general_parser(data: bytes) -> None:
    assert parse_simple_request(data, LIMITS) is None


def test_limits_send_oversized_heads_to_the_general_parser() -> None:
    small = Limits(max_line=64, max_head=256, max_headers=2)
    assert (
        parse_simple_request(b"GET http://a.test/" + b"a" * 80 + b" HTTP/1.1\r\n\r\n", small)
        is None
    )
    assert (
        parse_simple_request(b"GET http://a.test/ HTTP/1.1\r\nX: " + b"v" * 80 + b"\r\n\r\n", small)
        is None
    )
    three = b"GET http://a.test/ HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
    assert parse_simple_request(three, small) is None
    assert parse_simple_request(three, LIMITS) is not None
    with pytest.raises(HttpError):
        parse_request_head(three, small)


_NAMES = st.sampled_from(
    [
        "Host",
        "Referer",
        "Accept",
        "Connection",
        "Proxy-Connection",
        "X-A",
        "content-length",
        "Upgrade",
        "Bad Name",
        " Folded",
        "Sec-Fetch-Site",
        "DNT",
    ]
)
_VALUES = st.text(alphabet=st.sampled_from(list("ab ,\t:/.-=close\x00\n\r\xe9")), max_size=12)
_TARGETS = st.one_of(
    st.sampled_from(
        [
            "http://a.test/",
            "http://a.test",
            "http://A.b-c.test:81/p?q#f",
            "http://a.test:99999/",
            "https://a.test/",
            "http://[::1]/",
            "/x",
            "http://a.test/p q",
            "http://u@h/",
        ]
    ),
    st.text(alphabet=st.sampled_from(list("htp:/a.b?#%@[]1 é")), max_size=20),
)


@settings(max_examples=400, deadline=None)
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "get"]),
    target=_TARGETS,
    version=st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2"]),
    fields=st.lists(st.tuples(_NAMES, _VALUES), max_size=5),
)
@example(method="GET", target="http://a.test/", version="HTTP/1.1", fields=[("X-A", "a\rb")])
def test_whatever_the_shortcut_accepts_the_general_parser_reads_the_same(
    method: str, target: str, version: str, fields: list[tuple[str, str]]
) -> None:
    data = _message(f"{method} {target} {version}", fields)
    fast = parse_simple_request(data, LIMITS)
    if fast is None:
        return
    head = parse_request_head(data)  # never raises for an accepted head
    parsed = parse_absolute_target(head.target)
    assert fast.head() == head
    assert request_framing(head) == (Framing.NONE, 0)
    assert (fast.url, fast.path, fast.port, fast.authority) == (
        parsed.url,
        parsed.path,
        parsed.port,
        parsed.authority,
    )
    assert fast.host == parsed.host
    assert (fast.lower, fast.tokens) == header_map(head.headers)


# -- responses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n", "same"),
        (
            b"HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: keep-alive\r\n"
            b"Keep-Alive: timeout=5\r\nContent-Length: 5\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\n\r\n",
        ),
        (
            b"HTTP/1.1 404 Not Found\r\nCONNECTION: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        ),
        (b"HTTP/1.1 200\r\ncontent-length:5\r\n\r\n", "same"),
        # Everything else takes the general parse-and-rebuild path:
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nContent-Length: 5\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\nContent-Length: 5\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", None),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", None),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", None),
        (b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", None),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 5\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\n Folded: x\r\nContent-Length: 5\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 5\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\n", None),
        (b"HTTP/1.1 200 OK\r\nTrailer: x\r\nContent-Length: 5\r\n\r\n", None),
    ],
)
def test_plain_response_heads_pass_byte_for_byte_and_others_are_rebuilt(
    head: bytes, expected: bytes | str | None
) -> None:
    got = plain_response(head, LIMITS)
    if expected is None:
        assert got is None
    else:
        assert got == (
            head if expected == "same" else expected,
            5 if b":5" in head or b": 5" in head else 0,
        )


@settings(max_examples=400, deadline=None)
@given(
    status=st.sampled_from(["200 OK", "404 Not Found", "204 No Content", "200", "301 Moved"]),
    fields=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "Content-Length",
                    "Connection",
                    "Keep-Alive",
                    "Server",
                    "ETag",
                    "Transfer-Encoding",
                    "content-length",
                    "TE",
                    "X Y",
                ]
            ),
            st.sampled_from(
                [
                    "5",
                    "keep-alive",
                    "close",
                    "timeout=5",
                    "nginx",
                    '"e"',
                    "chunked",
                    " 5 ",
                    "5, 5",
                    "x",
                ]
            ),
        ),
        max_size=6,
    ),
)
def test_whatever_the_response_shortcut_accepts_the_general_parser_frames_the_same(
    status: str, fields: list[tuple[str, str]]
) -> None:
    raw = _message(f"HTTP/1.1 {status}", fields)
    got = plain_response(raw, LIMITS)
    if got is None:
        return
    head_bytes, length = got
    response = parse_response_head(raw)
    framing, general_length = response_framing(response, "GET")
    assert (framing, general_length) in ((Framing.LENGTH, length), (Framing.NONE, 0))
    assert length == general_length
    forwarded = parse_response_head(head_bytes)
    assert forwarded.status == response.status
    assert list(forwarded.headers) == strip_hop_by_hop(response.headers)
