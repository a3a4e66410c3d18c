"""HTTP/1.1 message heads: strict parsing, framing and serialisation (RFC 9112). No I/O.

The server reads a head (request line or status line plus header fields, up to the blank
line) and hands the bytes here. Everything a client sends is treated as hostile: lengths
are capped, forbidden characters are refused, and the ambiguous framings used for request
smuggling (`Content-Length` together with `Transfer-Encoding`, differing lengths, obs-fold
lines) are rejected instead of guessed, as RFC 9112 §6.3 and §5.2 allow.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trackguard.domain import MAX_HOST_LENGTH

Header = tuple[str, str]

#: RFC 9110 §7.6.1 hop-by-hop fields, plus the non-standard ones proxies must drop.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

_TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class HttpError(Exception):
    """A request the proxy refuses, with the status to answer and a short reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what a peer may send. Defaults suit browsers; tests shrink them."""

    max_line: int = 8 * 1024  # request line or one header line
    max_head: int = 64 * 1024  # request line + all header lines
    max_headers: int = 128
    max_chunk_line: int = 1024  # chunk size line incl. extensions


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: str
    target: str
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: tuple[Header, ...]

    def get(self, name: str) -> str | None:
        return get_header(self.headers, name)


@dataclass(frozen=True, slots=True)
class ResponseHead:
    version: str
    status: int
    reason: str
    headers: tuple[Header, ...]

    def get(self, name: str) -> str | None:
        return get_header(self.headers, name)


class Framing(enum.Enum):
    """How a message body is delimited (RFC 9112 §6.3)."""

    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    CLOSE = "close"  # response read until the server closes


def get_header(headers: Iterable[Header], name: str) -> str | None:
    """First value of a field, by case-insensitive name."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def ascii_digits(text: str | bytes) -> bool:
    """Only the ASCII digits 0-9: `str.isdigit` also accepts `²` or `٣`, which `int()`
    then refuses or reads (issue 9 defect 5)."""
    return bool(text) and text.isascii() and text.isdigit()


def _is_token(text: bytes) -> bool:
    # translate() deletes every token character in C; anything left is not a token.
    return bool(text) and not text.translate(None, _TOKEN_CHARS)


def _parse_fields(lines: Sequence[bytes], limits: Limits) -> tuple[Header, ...]:
    if len(lines) > limits.max_headers:
        raise HttpError(431, f"more than {limits.max_headers} header fields")
    out: list[Header] = []
    for line in lines:
        if len(line) > limits.max_line:
            raise HttpError(431, "header line too long")
        if line[:1] in (b" ", b"\t"):
            raise HttpError(400, "obsolete line folding in header")
        colon = line.find(b":")
        if colon <= 0:
            raise HttpError(400, "malformed header line")
        name = line[:colon]
        if not _is_token(name):
            raise HttpError(400, "invalid header name")
        value = line[colon + 1 :].strip(b" \t")
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise HttpError(400, "invalid character in header value")
        out.append((name.decode("ascii"), value.decode("latin-1")))
    return tuple(out)


#: Request-target bytes: visible ASCII and obs-text; no controls, space or DEL.
_TARGET_CHARS = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))

#: A whole, valid field section: `token ":" value CRLF`, repeated. The character classes
#: on either side of ":" are disjoint, so matching is linear (no backtracking); this is
#: our own fixed pattern, never list text, hence the exemption from the re2 rule.
FIELDS = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n\x00]*\r\n)*")  # noqa: TID251


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """(first line, field section with each line ending in CRLF)."""
    end = data.find(b"\r\n\r\n")
    body = data[: end + 2] if end >= 0 else data.rstrip(b"\r\n") + b"\r\n"
    first_end = body.find(b"\r\n")
    return body[:first_end], body[first_end + 2 :]


def _fields(block: bytes, limits: Limits) -> tuple[Header, ...]:
    """Header fields from a field section; one C-speed check validates the common case."""
    if not block:
        return ()
    if FIELDS.fullmatch(block) is None:
        # Find and name the offending line (always raises for an invalid section).
        return _parse_fields(block[:-2].split(b"\r\n"), limits)
    lines = block.decode("latin-1").split("\r\n")
    lines.pop()  # after the last CRLF
    if len(lines) > limits.max_headers:
        raise HttpError(431, f"more than {limits.max_headers} header fields")
    out: list[Header] = []
    max_line = limits.max_line
    for line in lines:
        if len(line) > max_line:
            raise HttpError(431, "header line too long")
        name, _, value = line.partition(":")
        out.append((name, value.strip(" \t")))
    return tuple(out)


def parse_request_head(data: bytes, limits: Limits = Limits()) -> RequestHead:
    """Parse a request head ending in CRLF CRLF (the terminator may be included)."""
    if len(data) > limits.max_head + 4:
        raise HttpError(431, "request head too large")
    if data[:1] == b"\x16":
        raise HttpError(400, "TLS handshake sent to a plain HTTP proxy port")
    request_line, block = _split_head(data)
    if len(request_line) > limits.max_line:
        raise HttpError(414, "request line too long")
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not _is_token(method):
        raise HttpError(400, "invalid method")
    if not target or target.translate(None, _TARGET_CHARS):
        raise HttpError(400, "invalid request target")
    if version != b"HTTP/1.1" and version != b"HTTP/1.0":
        if version.startswith(b"HTTP/") and ascii_digits(version[5:6]):
            raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
        raise HttpError(400, "malformed request line")
    headers = _fields(block, limits)
    return RequestHead(
        method.decode("ascii"), target.decode("latin-1"), version.decode("ascii"), headers
    )


def parse_response_head(data: bytes, limits: Limits = Limits()) -> ResponseHead:
    """Parse an upstream status line and fields. Upstreams are hostile too."""
    if len(data) > limits.max_head + 4:
        # The same cap as the stream reader's: a head either path refuses, both refuse.
        raise HttpError(502, "upstream response head too large")
    status_line, block = _split_head(data)
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HttpError(502, "upstream sent a malformed status line")
    code = parts[1]
    if len(code) != 3 or not ascii_digits(code):
        raise HttpError(502, "upstream sent a malformed status code")
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    try:
        headers = _fields(block, limits)
    except HttpError as exc:
        raise HttpError(502, f"upstream sent a bad header: {exc.message}") from None
    return ResponseHead(parts[0].decode("ascii"), int(code), reason, headers)


def _content_length(headers: Iterable[Header], status: int) -> int | None:
    values = {v.strip() for k, v in headers if k.lower() == "content-length"}
    if not values:
        return None
    # A list form "5, 5" is allowed when all members agree (RFC 9110 §8.6).
    members = {m.strip() for v in values for m in v.split(",")}
    if len(members) != 1:
        raise HttpError(status, "conflicting Content-Length")
    value = members.pop()
    if not ascii_digits(value) or len(value) > 18:
        raise HttpError(status, "invalid Content-Length")
    return int(value)


def _is_chunked(headers: Iterable[Header], status: int) -> bool | None:
    codings = [
        c.strip().lower()
        for k, v in headers
        if k.lower() == "transfer-encoding"
        for c in v.split(",")
        if c.strip()
    ]
    if not codings:
        return None
    if codings[-1] != "chunked":
        return False
    if codings.count("chunked") > 1:
        raise HttpError(status, "chunked applied twice")
    return True


def request_framing(head: RequestHead) -> tuple[Framing, int]:
    """Body framing of a request (RFC 9112 §6.3 items 3-6), strict."""
    chunked = _is_chunked(head.headers, 400)
    length = _content_length(head.headers, 400)
    if chunked is not None:
        if length is not None:
            raise HttpError(400, "both Transfer-Encoding and Content-Length")
        if not chunked or head.version == "HTTP/1.0":
            raise HttpError(400, "unsupported Transfer-Encoding")
        return Framing.CHUNKED, 0
    if length:
        return Framing.LENGTH, length
    return Framing.NONE, 0


def response_framing(head: ResponseHead, request_method: str) -> tuple[Framing, int]:
    """Body framing of a response (RFC 9112 §6.3 items 1-7)."""
    if request_method == "HEAD" or 100 <= head.status < 200 or head.status in (204, 304):
        return Framing.NONE, 0
    chunked = _is_chunked(head.headers, 502)
    if chunked:
        return Framing.CHUNKED, 0
    if chunked is False:
        return Framing.CLOSE, 0
    length = _content_length(head.headers, 502)
    if length is None:
        return Framing.CLOSE, 0
    if length == 0:
        return Framing.NONE, 0
    return Framing.LENGTH, length


def parse_chunk_size(line: bytes, limits: Limits = Limits()) -> int:
    """The size from a chunk-size line (`1a;ext=1\\r\\n`)."""
    if len(line) > limits.max_chunk_line:
        raise HttpError(400, "chunk size line too long")
    size = line.split(b";", 1)[0].strip(b" \t\r\n")
    if not size or len(size) > 15 or any(c not in b"0123456789abcdefABCDEF" for c in size):
        raise HttpError(400, "invalid chunk size")
    return int(size, 16)


def connection_tokens(headers: Iterable[Header]) -> set[str]:
    return {
        t.strip().lower()
        for k, v in headers
        if k.lower() in ("connection", "proxy-connection")
        for t in v.split(",")
        if t.strip()
    }


def strip_hop_by_hop(headers: Iterable[Header], keep: Iterable[str] = ()) -> list[Header]:
    """Drop hop-by-hop fields and the ones named in `Connection` (RFC 9110 §7.6.1)."""
    headers = list(headers)
    names = [k.lower() for k, _ in headers]
    if "connection" in names or "proxy-connection" in names:
        drop = (HOP_BY_HOP | connection_tokens(headers)) - set(keep)
    else:  # the common case: no Connection field naming others
        drop = HOP_BY_HOP - set(keep) if keep else HOP_BY_HOP
    return [h for h, name in zip(headers, names, strict=True) if name not in drop]


def keep_alive(version: str, headers: Iterable[Header]) -> bool:
    """Whether the peer wants the connection kept open after this message."""
    tokens = connection_tokens(headers)
    if "close" in tokens:
        return False
    return version == "HTTP/1.1" or "keep-alive" in tokens


def serialize_head(first_line: str, headers: Iterable[Header]) -> bytes:
    parts = [first_line]
    parts.extend(map(": ".join, headers))  # C-level loop: the proxy calls this per request
    parts.append("\r\n")
    return "\r\n".join(parts).encode("latin-1")


@dataclass(frozen=True, slots=True)
class Target:
    """An absolute-form request target split for connecting."""

    scheme: str
    host: str  # as written, without brackets for IPv6
    port: int
    path: str  # origin-form: path and query, at least "/"

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}{self.path}"


def split_host_port(authority: str, default_port: int) -> tuple[str, int]:
    """`host[:port]` / `[v6][:port]` -> (host, port); HttpError(400) if malformed."""
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise HttpError(400, "malformed IPv6 authority")
        host, rest = authority[1:close], authority[close + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise HttpError(400, "malformed authority")
    else:
        host, sep, port_text = authority.rpartition(":")
        if not sep:
            host, port_text = authority, ""
    if not host or any(c in host for c in " /\\?#%"):
        raise HttpError(400, "invalid host")
    if len(host) > MAX_HOST_LENGTH:
        # No DNS name is longer; refused here, a hostile CONNECT host never reaches the
        # policy's and learner's host memos (bounded by count, not by key size).
        raise HttpError(400, "host name too long")
    if port_text:
        if not ascii_digits(port_text) or not 0 < int(port_text) < 65536:
            raise HttpError(400, "invalid port")
        return host, int(port_text)
    return host, default_port


def plain_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP literal (brackets and zone allowed) with IPv4-mapped IPv6 (`::ffff:127.0.0.2`)
    unwrapped, so address checks see the address a connection reaches; None for names."""
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_absolute_target(target: str) -> Target:
    """`http://host[:port]/path?q` -> Target; only http and https are proxied."""
    sep = target.find("://")
    if sep <= 0:
        raise HttpError(400, "proxy requests need an absolute URL")
    scheme = target[:sep].lower()
    if scheme not in ("http", "https"):
        raise HttpError(501, f"scheme {scheme!r} is not supported")
    rest = target[sep + 3 :]
    end = len(rest)
    for ch in "/?":
        i = rest.find(ch)
        if 0 <= i < end:
            end = i
    authority, path = rest[:end], rest[end:]
    if "#" in path:
        path = path[: path.find("#")]
    if not path.startswith("/"):
        path = "/" + path
    host, port = split_host_port(authority, 443 if scheme == "https" else 80)
    return Target(scheme, host, port, path)
