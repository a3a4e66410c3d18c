"""Body framing the proxy relays: a strict chunked parser that re-frames, and the framing
fields of forwarded heads. No I/O.

Rules of this module (issue 9, defects 1, 2 and 4):

1. Nothing a peer wrote as framing is forwarded byte for byte. A chunked body is parsed
   strictly and written again with canonical chunk lines (`<hex size>CRLF`, no
   extensions); the bytes after chunk data must be exactly CRLF; a bare LF anywhere in a
   chunk line or trailer ends the message with an error. What the other side receives
   is either a well-framed message or (after an error) a closed connection, never bytes
   that could parse as a second message (the class of h11's CVE-2025-43859).
2. Trailers are read with a count and a size cap and then dropped: RFC 9110 §6.5.1 lets
   a recipient that removes the chunked coding discard them, browsers do not use them,
   and forwarding them is how a hostile upstream injected a forged response.
3. The parser holds at most one unfinished line (capped); chunk data passes straight
   through. Back-pressure (waiting for the receiver) is the caller's job: the parser
   never buffers output.
4. Forwarded heads carry one framing: `Content-Length` is dropped whenever
   `Transfer-Encoding` is present (RFC 9112 §6.3), a list form `4, 4` becomes `4`, and
   transfer codings other than `chunked` (`gzip, chunked`) are kept, not relabelled.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trackguard.proxy.http1 import (
    FIELDS,
    Framing,
    Header,
    HttpError,
    ascii_digits,
    strip_hop_by_hop,
)

#: `chunk-size [chunk-ext] CRLF` (RFC 9112 §7.1.1), our own fixed, linear pattern: the
#: `;` opens each extension, so the repetition cannot be matched two ways.
_CHUNK_LINE = re.compile(  # noqa: TID251
    rb"([0-9A-Fa-f]{1,15})"
    rb"(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
    rb"(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
    rb"|\"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*\"))?)*"
    rb"[ \t]*\r\n"
)


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Caps on the framing a peer may send inside a chunked body."""

    max_chunk_line: int = 1024  # one chunk-size line, extensions included
    #: One chunk's declared size. No real peer sends a single chunk near 4 GiB; a larger
    #: size (up to 15 hex digits parse) would make the rest of the connection, whatever
    #: it holds, opaque body bytes relayed to the other side.
    max_chunk_size: int = (1 << 32) - 1
    max_trailer_line: int = 8 * 1024
    max_trailers: int = 32
    max_trailer_bytes: int = 16 * 1024  # the whole trailer section


class _State(enum.Enum):
    SIZE = "size"  # reading a chunk-size line
    DATA = "data"  # inside chunk data
    DATA_END = "data-end"  # the CRLF after chunk data
    TRAILER = "trailer"  # trailer lines after the last chunk
    DONE = "done"


class ChunkedDecoder:
    """Incremental, strict parser of one chunked body that emits it re-framed.

    `feed(data)` returns the pieces to send on (canonical chunks when `reframe`, the bare
    data otherwise, for HTTP/1.0 receivers); raises `HttpError(status)` on bad framing,
    after which the caller must close both connections. Once `done`, `rest` holds the
    bytes that followed the body (a pipelined request, or junk from an upstream).
    For stream readers, `wants_line` and `wants` say how much to read next so that no
    byte past the body is consumed.
    """

    __slots__ = (
        "_line",
        "_remaining",
        "_state",
        "_trailer_bytes",
        "_trailers",
        "limits",
        "reframe",
        "rest",
        "status",
    )

    def __init__(
        self, *, reframe: bool = True, status: int = 502, limits: BodyLimits = BodyLimits()
    ) -> None:
        self.reframe = reframe
        self.status = status
        self.limits = limits
        self.rest = b""
        self._state = _State.SIZE
        self._line = b""  # an unfinished line (size, CRLF after data, or trailer)
        self._remaining = 0
        self._trailers = 0
        self._trailer_bytes = 0

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    @property
    def wants_line(self) -> bool:
        return self._state in (_State.SIZE, _State.TRAILER)

    @property
    def wants(self) -> int:
        """Bytes of chunk data (or of its CRLF) still expected; 0 when a line is next."""
        if self._state is _State.DATA:
            return self._remaining
        if self._state is _State.DATA_END:
            return 2 - len(self._line)
        return 0

    def _fail(self, message: str) -> HttpError:
        self._state = _State.DONE
        return HttpError(self.status, message)

    def _take_line(self, data: bytes, start: int, cap: int) -> tuple[bytes | None, int]:
        """A complete line (with its CRLF) starting at `start`, or None if more is needed."""
        end = data.find(b"\n", start)
        if end < 0:
            self._line += data[start:]
            if len(self._line) > cap:
                raise self._fail("chunk framing line too long")
            return None, len(data)
        line = self._line + data[start : end + 1]
        self._line = b""
        if len(line) > cap + 2:
            raise self._fail("chunk framing line too long")
        if len(line) < 2 or line[-2] != 0x0D:
            raise self._fail("bare LF in chunked framing")
        return line, end + 1

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        i, n = 0, len(data)
        limits = self.limits
        while i < n:
            state = self._state
            if state is _State.DATA:
                take = min(self._remaining, n - i)
                out.append(data[i : i + take] if take != n else data)
                i += take
                self._remaining -= take
                if not self._remaining:
                    self._state = _State.DATA_END
            elif state is _State.DATA_END:
                take = min(2 - len(self._line), n - i)
                self._line += data[i : i + take]
                i += take
                if len(self._line) == 2:
                    if self._line != b"\r\n":
                        raise self._fail("chunk data not followed by CRLF")
                    self._line = b""
                    self._state = _State.SIZE
                    if self.reframe:
                        out.append(b"\r\n")
            elif state is _State.SIZE:
                line, i = self._take_line(data, i, limits.max_chunk_line)
                if line is None:
                    break
                match = _CHUNK_LINE.fullmatch(line)
                if match is None:
                    raise self._fail("invalid chunk size line")
                size = int(match[1], 16)
                if size > limits.max_chunk_size:
                    raise self._fail("chunk size over 4 GiB")
                if size:
                    self._remaining = size
                    self._state = _State.DATA
                    if self.reframe:
                        out.append(b"%x\r\n" % size)
                else:
                    self._state = _State.TRAILER
            elif state is _State.TRAILER:
                line, i = self._take_line(data, i, limits.max_trailer_line)
                if line is None:
                    break
                if line == b"\r\n":
                    self._state = _State.DONE
                    if self.reframe:
                        out.append(b"0\r\n\r\n")
                    break
                self._trailers += 1
                self._trailer_bytes += len(line)
                if self._trailers > limits.max_trailers:
                    raise self._fail("too many trailer fields")
                if self._trailer_bytes > limits.max_trailer_bytes:
                    raise self._fail("trailer section too large")
                if FIELDS.fullmatch(line) is None:
                    raise self._fail("invalid trailer field")
            else:  # DONE
                break
        if self._state is _State.DONE and i < n:
            self.rest += data[i:]
        return out


def transfer_codings(headers: Iterable[Header]) -> list[str]:
    """The transfer codings in order, lower case (`Transfer-Encoding: gzip, chunked`)."""
    return [
        c.strip().lower()
        for k, v in headers
        if k.lower() == "transfer-encoding"
        for c in v.split(",")
        if c.strip()
    ]


def response_fields(
    headers: Iterable[Header], framing: Framing, length: int, *, dechunk: bool
) -> list[Header]:
    """The end-to-end fields of an upstream response plus the framing fields we send.

    `framing` and `length` are `http1.response_framing`'s. The body is relayed with
    that framing (chunked re-framed, or de-chunked for an HTTP/1.0 client), so:
    `Content-Length` goes whenever `Transfer-Encoding` was present and is otherwise
    written once in canonical form; codings other than the final `chunked` stay.
    Raises HttpError(502) when an HTTP/1.0 client would need a transfer coding.
    """
    headers = list(headers)
    codings = transfer_codings(headers)
    out = [h for h in strip_hop_by_hop(headers) if h[0].lower() != "content-length"]
    inner = codings[:-1] if codings and codings[-1] == "chunked" else codings
    if inner and dechunk:
        raise HttpError(502, "the upstream's transfer coding cannot be sent to an HTTP/1.0 client")
    if codings:
        # RFC 9112 §6.3 item 3: Transfer-Encoding overrides Content-Length, which goes.
        if framing is Framing.CHUNKED and not dechunk:
            inner = [*inner, "chunked"]
        if inner:
            out.append(("Transfer-Encoding", ", ".join(inner)))
    elif framing is Framing.LENGTH:
        out.append(("Content-Length", str(length)))
    else:  # no body relayed (HEAD, 204, 304, length 0): the upstream's value, canonical
        value = _single_length(headers)
        if value is not None:
            out.append(("Content-Length", value))
    return out


def request_fields(
    fields: Iterable[Header], framing: Framing, length: int, codings: Sequence[str] = ()
) -> list[Header]:
    """A request's own framing fields, canonical: one `Content-Length`, or the transfer
    `codings` (`transfer_codings` of the request as received) with `chunked` last, so
    `gzip, chunked` stays `gzip, chunked`. Framing fields in `fields` are replaced."""
    out = [h for h in fields if h[0].lower() not in ("content-length", "transfer-encoding")]
    if framing is Framing.LENGTH:
        out.append(("Content-Length", str(length)))
    elif framing is Framing.CHUNKED:
        inner = [c for c in codings if c != "chunked"]
        out.append(("Transfer-Encoding", ", ".join([*inner, "chunked"])))
    return out


def _single_length(headers: list[Header]) -> str | None:
    """The one value all `Content-Length` fields and list members agree on, if any."""
    members = {m.strip() for k, v in headers if k.lower() == "content-length" for m in v.split(",")}
    if len(members) != 1:
        return None
    value = members.pop()
    return value if ascii_digits(value) and len(value) <= 18 else None
