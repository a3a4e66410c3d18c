"""framing: the strict chunked parser that re-frames, and forwarded framing fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackguard.proxy.framing import (
    BodyLimits,
    ChunkedDecoder,
    request_fields,
    response_fields,
    transfer_codings,
)
from trackguard.proxy.http1 import Framing, HttpError


def run(
    data: bytes, *, reframe: bool = True, step: int = 0, limits: BodyLimits | None = None
) -> tuple[bytes, ChunkedDecoder]:
    dec = ChunkedDecoder(reframe=reframe, limits=limits or BodyLimits())
    out: list[bytes] = []
    pieces = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    for piece in pieces:
        out += dec.feed(piece)
        if dec.done:
            break
    return b"".join(out), dec


@pytest.mark.parametrize("step", [0, 1, 2, 3, 7])
def test_canonical_chunks_whatever_the_reads(step: int) -> None:
    body = b'5;name="v\\"x"\r\nhello\r\nA \r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\nGET /next'
    out, dec = run(body, step=step)
    assert out == b"5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n"
    assert dec.done
    if step == 0:
        assert dec.rest == b"GET /next"


def test_dechunk_for_http10() -> None:
    out, dec = run(b"3\r\nabc\r\n0\r\n\r\n", reframe=False)
    assert out == b"abc" and dec.done


@pytest.mark.parametrize(
    "body",
    [
        b"5;x\nhello\r\n0\r\n\r\n",  # bare LF ends a size line (the smuggling shape)
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXY0\r\n\r\n",  # no CRLF after the data
        b"5\r\nhello\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
        b"5 5\r\nhello\r\n0\r\n\r\n",
        b"1234567890abcdef\r\n",  # more than 15 hex digits
        b"100000000\r\nGET /smuggled HTTP/1.1\r\n\r\n",  # one chunk over 4 GiB
        b"ffffffffffff\r\n",
        "²\r\nxx\r\n0\r\n\r\n".encode(),
        b"0\r\nX: 1\n\r\n",  # bare LF in a trailer
        b"0\r\nbad trailer\r\n\r\n",
        b"0\r\nX: 1\r\nHTTP/1.1 200 OK\r\n\r\n",
        b'5;a="unterminated\r\nhello\r\n0\r\n\r\n',
    ],
)
def test_bad_framing_is_refused(body: bytes) -> None:
    with pytest.raises(HttpError) as error:
        run(body)
    assert error.value.status == 502
    with pytest.raises(HttpError):
        run(body, step=1)


def test_the_largest_allowed_chunk_size_passes() -> None:
    out, dec = run(b"ffffffff\r\nabc")
    assert out == b"ffffffff\r\nabc" and not dec.done


def test_trailer_count_and_size_are_capped() -> None:
    many = b"0\r\n" + b"X: 1\r\n" * 40 + b"\r\n"
    with pytest.raises(HttpError, match="too many trailer"):
        run(many, step=5)
    big = b"0\r\n" + (b"X: " + b"a" * 1000 + b"\r\n") * 20 + b"\r\n"
    with pytest.raises(HttpError, match="trailer section too large"):
        run(big)
    long_line = b"0\r\nX: " + b"a" * 9000
    with pytest.raises(HttpError, match="too long"):
        run(long_line, step=100)
    long_size = b"1" + b";x" * 600
    with pytest.raises(HttpError, match="too long"):
        run(long_size, step=10)


def test_wants_never_reads_past_the_body() -> None:
    dec = ChunkedDecoder(status=400)
    assert dec.wants_line
    dec.feed(b"4\r\n")
    assert dec.wants == 4 and not dec.wants_line
    dec.feed(b"ab")
    assert dec.wants == 2
    dec.feed(b"cd")
    assert dec.wants == 2
    dec.feed(b"\r")
    assert dec.wants == 1
    dec.feed(b"\n")
    assert dec.wants_line and not dec.done
    assert dec.feed(b"0\r\n") == []
    assert dec.feed(b"\r\n") == [b"0\r\n\r\n"] and dec.done and dec.rest == b""


@given(st.lists(st.binary(max_size=40), max_size=6), st.integers(1, 9))
def test_any_chunks_round_trip(chunks: list[bytes], step: int) -> None:
    wire = b"".join(b"%X\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
    out, dec = run(wire, step=step)
    assert dec.done
    assert out == b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"


@given(st.binary(max_size=200), st.integers(1, 9))
def test_output_is_always_canonical_framing(data: bytes, step: int) -> None:
    """Whatever arrives, what leaves parses as canonical chunks and nothing else."""
    try:
        out, _ = run(data, step=step)
    except HttpError:
        return
    # Re-parse what we emitted: canonical lines only, every byte accounted for.
    pos = 0
    while pos < len(out):
        end = out.index(b"\r\n", pos)
        size = int(out[pos:end], 16)
        assert out[pos:end] == b"%x" % size
        pos = end + 2
        if size == 0:
            assert out[pos:] == b"\r\n"
            break
        pos += size
        assert out[pos : pos + 2] == b"\r\n"
        pos += 2


def test_response_fields_cl_and_te() -> None:
    both = [("Content-Length", "10"), ("Transfer-Encoding", "chunked"), ("X", "y")]
    assert response_fields(both, Framing.CHUNKED, 0, dechunk=False) == [
        ("X", "y"),
        ("Transfer-Encoding", "chunked"),
    ]
    gz = [("Transfer-Encoding", "gzip, chunked")]
    assert response_fields(gz, Framing.CHUNKED, 0, dechunk=False) == [
        ("Transfer-Encoding", "gzip, chunked")
    ]
    with pytest.raises(HttpError):
        response_fields(gz, Framing.CHUNKED, 0, dechunk=True)
    assert (
        response_fields([("Transfer-Encoding", "chunked")], Framing.CHUNKED, 0, dechunk=True) == []
    )
    close = [("Transfer-Encoding", "gzip")]
    assert response_fields(close, Framing.CLOSE, 0, dechunk=False) == [
        ("Transfer-Encoding", "gzip")
    ]
    listed = [("Content-Length", "4, 4"), ("Content-Length", "4")]
    assert response_fields(listed, Framing.LENGTH, 4, dechunk=False) == [("Content-Length", "4")]
    head = [("Content-Length", "1234")]
    assert response_fields(head, Framing.NONE, 0, dechunk=False) == [("Content-Length", "1234")]
    named = [("Connection", "content-length"), ("Content-Length", "3")]
    assert response_fields(named, Framing.LENGTH, 3, dechunk=False) == [("Content-Length", "3")]


def test_request_fields_canonical() -> None:
    assert request_fields([("Content-Length", "4, 4"), ("A", "b")], Framing.LENGTH, 4) == [
        ("A", "b"),
        ("Content-Length", "4"),
    ]
    assert request_fields([("Transfer-Encoding", "Chunked")], Framing.CHUNKED, 0) == [
        ("Transfer-Encoding", "chunked")
    ]
    gz = [("Transfer-Encoding", "gzip, chunked")]
    assert request_fields([("A", "b")], Framing.CHUNKED, 0, transfer_codings(gz)) == [
        ("A", "b"),
        ("Transfer-Encoding", "gzip, chunked"),
    ]
