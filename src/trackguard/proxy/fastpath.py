"""Byte-level shortcuts for the commonest proxied exchange. No I/O.

Most plain-HTTP traffic through the proxy is a keep-alive `GET` of an ordinary URL with
no body, answered by `HTTP/1.1` with one `Content-Length`. For exactly that shape these
functions do in a few C-speed regex calls what `http1` does with general parsing, and
return None for anything else, so the caller falls back to `http1` and its strict,
general rules. They are optimisations of one case, never a second set of rules: every
message they accept, `http1` accepts with the same meaning (the tests check both on the
same inputs).
"""

from __future__ import annotations

import re

from trackguard.proxy.http1 import FIELDS, Header, Limits, RequestHead, connection_tokens

# Our own fixed patterns over bounded input (never list text), linear by construction:
# exempt from the re2 rule like http1's.

#: `GET|HEAD http://host[:port][/path] HTTP/1.x` CRLF: a plain host name or IPv4 address,
#: a path of visible ASCII without a fragment. Anything else (IPv6, userinfo, `%`, a
#: query right after the host, obs-text) is for the general parser.
_REQUEST_LINE = re.compile(  # noqa: TID251
    rb"(GET|HEAD) http://([A-Za-z0-9._\-]+)(?::([0-9]{1,5}))?(/[!\x22$-~]*)? HTTP/1\.([01])\r\n"
)

#: Fields that give a request a body, an interim response or a protocol switch (searched
#: in the lower-cased head: case-sensitive patterns are several times faster).
_SPECIAL_REQUEST_FIELD = re.compile(  # noqa: TID251
    rb"\n(?:content-length|transfer-encoding|expect|upgrade):"
)

#: `HTTP/1.1 2xx..5xx [reason]` CRLF.
_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([2-5][0-9][0-9])(?: [^\r\n]*)?\r\n")  # noqa: TID251

#: The hop-by-hop lines servers such as nginx add to every response: `Connection:
#: keep-alive` (exactly that value) and `Keep-Alive: <parameters>`.
_KEEP_ALIVE_LINE = re.compile(  # noqa: TID251
    rb"\r\n(?:connection:[ \t]*keep-alive[ \t]*|keep-alive:[^\r\n]*)(?=\r\n)", re.IGNORECASE
)

#: Any hop-by-hop field (searched in the lower-cased head).
_HOP_FIELD = re.compile(  # noqa: TID251
    rb"\r\n(?:connection|keep-alive|proxy-connection|proxy-authenticate|proxy-authorization"
    rb"|te|trailer|transfer-encoding|upgrade):"
)

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:([^\r\n]*)")  # noqa: TID251


class FastRequest:
    """A parsed simple request: what the proxy needs to decide it and send it upstream."""

    __slots__ = (
        "authority",
        "headers",
        "host",
        "lower",
        "method",
        "path",
        "port",
        "target",
        "tokens",
        "url",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        host: str,
        port: int,
        path: str,
        headers: tuple[Header, ...],
        lower: dict[str, str],
        tokens: frozenset[str],
    ) -> None:
        self.method = method
        self.target = target  # as sent
        self.version = version
        self.host = host  # as written
        self.port = port
        self.path = path  # origin-form, at least "/"
        self.authority = host if port == 80 else f"{host}:{port}"
        self.url = f"http://{self.authority}{path}"
        self.headers = headers  # in order, as sent
        self.lower = lower  # lower-case name -> first value
        self.tokens = tokens  # `Connection` / `Proxy-Connection` tokens, lower case

    def head(self) -> RequestHead:
        """The same request as `http1.parse_request_head` returns it."""
        return RequestHead(self.method, self.target, self.version, self.headers)


def header_map(headers: tuple[Header, ...]) -> tuple[dict[str, str], frozenset[str]]:
    """Lower-case name -> first value, and the `Connection`/`Proxy-Connection` tokens."""
    lower: dict[str, str] = {}
    for name, value in headers:
        lname = name.lower()
        if lname not in lower:
            lower[lname] = value
    return lower, _connection_tokens(headers, lower)


def _connection_tokens(headers: tuple[Header, ...], lower: dict[str, str]) -> frozenset[str]:
    """`http1.connection_tokens`, skipped when `lower` shows there is no such field."""
    if "connection" not in lower and "proxy-connection" not in lower:
        return _NO_TOKENS
    return frozenset(connection_tokens(headers))


_NO_TOKENS: frozenset[str] = frozenset()


def parse_simple_request(data: bytes, limits: Limits) -> FastRequest | None:
    """A request head (ending CRLF CRLF) of the simple shape, or None for `http1`."""
    if len(data) > limits.max_head:
        return None
    match = _REQUEST_LINE.match(data)
    if match is None or match.end() > limits.max_line + 2:
        return None
    start = match.end()
    end = len(data) - 2
    if FIELDS.fullmatch(data, start, end) is None:
        return None
    if _SPECIAL_REQUEST_FIELD.search(data.lower(), start - 1, end) is not None:
        return None
    method, host, port_text, path, minor = match.groups()
    port = 80
    if port_text is not None:
        port = int(port_text)
        if not 0 < port < 65536:
            return None
    text = data[start:end].decode("latin-1")
    lines = text.split("\r\n")
    lines.pop()  # after the last CRLF
    if len(lines) > limits.max_headers:
        return None
    if len(text) > limits.max_line and any(len(line) > limits.max_line for line in lines):
        return None
    headers: list[Header] = []
    lower: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        value = value.strip(" \t")
        headers.append((name, value))
        lname = name.lower()
        if lname not in lower:
            lower[lname] = value
    fields = tuple(headers)
    return FastRequest(
        method.decode("ascii"),
        data[len(method) + 1 : start - 11].decode("ascii"),
        "HTTP/1.1" if minor == b"1" else "HTTP/1.0",
        host.decode("ascii"),
        port,
        path.decode("ascii") if path else "/",
        fields,
        lower,
        _connection_tokens(fields, lower),
    )


def plain_response(raw: bytes, limits: Limits) -> tuple[bytes, int] | None:
    """The client's head for the commonest response, checked and copied as bytes.

    The commonest response is `HTTP/1.1`, 2xx-5xx with a body, one `Content-Length`, no
    hop-by-hop field other than `Connection: keep-alive` / `Keep-Alive` (dropped here).
    It is forwarded byte for byte after the same strict field check as
    `http1.parse_response_head`. Returns (head, body length), or None for the general
    parse-and-rebuild. Request-side conditions (HEAD, closing clients) are the caller's.
    """
    if len(raw) > limits.max_line:
        return None
    status = _STATUS_LINE.match(raw)
    if status is None or status[1] in (b"204", b"304"):
        return None
    start = status.end()
    if FIELDS.fullmatch(raw, start, len(raw) - 2) is None:
        return None
    if raw.count(b"\r\n", start) > limits.max_headers + 1:
        return None
    lower = raw.lower()
    if _HOP_FIELD.search(lower, start - 2) is not None:
        # nginx's exact line first (a find and a cut), then any other spelling.
        at = raw.find(b"\r\nConnection: keep-alive\r\n", start - 2)
        if at >= 0:
            raw = raw[:at] + raw[at + 24 :]
            lower = raw.lower()
        if _HOP_FIELD.search(lower, start - 2) is not None:
            raw = _KEEP_ALIVE_LINE.sub(b"", raw)
            lower = raw.lower()
            if _HOP_FIELD.search(lower, start - 2) is not None:
                return None
    lengths = _CONTENT_LENGTH.findall(lower, start - 2)
    if len(lengths) != 1:
        return None
    value = lengths[0].strip(b" \t")
    if not value.isdigit() or len(value) > 18:
        return None
    return raw, int(value)
