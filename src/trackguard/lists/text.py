"""Line handling shared by every list parser: splitting, size limits, host tokens.

One splitter for all formats (`split_lines`): a line ends at LF, CRLF or CR and nowhere
else (TPL spec §A.3). `str.splitlines` is not used anywhere, because it also breaks on
VT, FF, FS/GS/RS, U+0085, U+2028 and U+2029: in an EasyList-syntax list that turned
`! harmless<VT>||google.com^` into an active rule and shifted every later line number.

The §A.10 limits are trackguard's limits for every list it loads. Host tokens are
validated and normalised the same way for TPL `-d`/`+d` rules and hosts entries (§A.5.1).
No I/O here.
"""

from __future__ import annotations

import gc
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager

from trackguard.domain import is_ip_literal, is_public_suffix, to_ascii_host
from trackguard.model import Diagnostic, ListRejected, Severity

__all__ = [
    "MAX_LINE_CHARS",
    "MAX_LIST_BYTES",
    "MAX_RULES",
    "bad_host_char",
    "check_size",
    "gc_paused",
    "header_comment",
    "is_listed_suffix",
    "long_line",
    "normalize_host",
    "split_lines",
    "utf8_size",
]

#: §A.10: a list may be at most 16 MiB (UTF-8, after decompression) and 500,000 rules;
#: longer lines than 4,096 characters (end of line not counted) are invalid.
MAX_LIST_BYTES = 16 * 1024 * 1024
MAX_RULES = 500_000
MAX_LINE_CHARS = 4096

_ERROR = Severity.ERROR
_NOTICE = Severity.NOTICE


def utf8_size(text: str) -> int:
    """The UTF-8 size of `text` in bytes, without encoding text that is plain ASCII."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _rejection(list_id: str, line: int, message: str, code: str) -> str:
    return str(Diagnostic(list_id, line, _ERROR, code, message))


def check_size(text: str, list_id: str, code: str) -> None:
    """Reject text over `MAX_LIST_BYTES` UTF-8 bytes (§A.10), without encoding ASCII text."""
    size = len(text)
    if size * 4 > MAX_LIST_BYTES and not text.isascii():
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_LIST_BYTES:
        raise ListRejected(
            _rejection(
                list_id,
                0,
                f"list is {size:,} bytes, over the {MAX_LIST_BYTES // (1024 * 1024)} MiB limit "
                "(§A.10); split it into several lists",
                code,
            )
        )


def split_lines(text: str) -> list[str]:
    """Split on CRLF, LF or CR (§A.3) after dropping a BOM; a final EOL ends the last line.

    `str.splitlines` is not used on purpose: it also breaks on VT, FF, U+0085, U+2028...,
    which would shift line numbers against every other tool.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if len(lines) > 1 and not lines[-1]:
        lines.pop()
    return lines


def header_comment(body: str) -> tuple[str, str] | None:
    """`Title: Foo` -> ("title", "Foo"): a `Key: value` metadata comment, else None.

    Keys are one to a few words of letters (`Last modified`, `Licenza`); anything else
    (`http://...`, `generated on 09/05/16 13:00`) is ordinary comment text.
    """
    colon = body.find(":")
    if colon <= 0 or colon > 40:
        return None
    key = body[:colon].strip(" \t")
    value = body[colon + 1 :].strip(" \t")
    if not key or not value or value.startswith("//"):
        return None
    if not key.replace(" ", "").replace("-", "").isalpha():
        return None
    return key.lower(), value


def normalize_host(token: str) -> tuple[str, bool, str]:
    """Validate and normalise one domain token: (host, is_ip, "") or ("", False, reason).

    §A.5.1: lower case; one leading and one trailing dot stripped; IDNA A-labels; no empty
    label; ASCII characters limited to letters, digits, `-`, `_` (underscores occur in
    real hosts: `vds_dyn.rightster.com`). IP literals are returned in canonical form, IPv6
    bracketed (`[::1]`) the way `trackguard.domain.split_url` reports request hosts.
    """
    t = token[1:] if token.startswith(".") else token
    if t.endswith("."):
        t = t[:-1]
    if not t:
        return "", False, "the domain is empty"
    if t[0] == "[" or t[0].isdigit() or ":" in t:
        ip = _canonical_ip(t)
        if ip:
            return ip, True, ""
    if t.isascii():
        if not t.replace(".", "").replace("-", "").replace("_", "").isalnum():
            return "", False, _bad_char_reason(t)
        host = t.lower()
    else:
        if bad_host_char(t):
            return "", False, _bad_char_reason(t)
        host = to_ascii_host(t)
        # IDNA mapping can produce ASCII punctuation (fullwidth `／` -> `/`): check again.
        if not host.isascii() or not (
            host.replace(".", "").replace("-", "").replace("_", "").isalnum()
        ):
            return "", False, f"`{t}` cannot be converted to a valid IDNA A-label"
    if host.startswith(".") or host.endswith(".") or ".." in host:
        return "", False, f"`{t}` has an empty label (`..`)"
    if len(host) > 253 or (len(host) > 63 and max(map(len, host.split("."))) > 63):
        return "", False, "a DNS name has at most 253 characters and 63 per label"
    return host, False, ""


def is_listed_suffix(host: str) -> bool:
    """True when a normalised host is itself a public suffix listed in the PSL.

    `-d metrics` is a deliberate label match (§A.6), not an over-broad rule: only `com`,
    `co.uk`, `github.io`... count, which is what `domain.is_public_suffix` answers.
    """
    return is_public_suffix(host)


def _canonical_ip(token: str) -> str:
    """IP literal in canonical form (`[2001:db8::1]`, `192.0.2.1`), or "" if not one."""
    if not is_ip_literal(token):
        return ""
    address = ipaddress.ip_address(token[1:-1] if token.startswith("[") else token)
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    return f"[{_ipv6_text(address)}]"


def _ipv6_text(address: ipaddress.IPv6Address) -> str:
    """The WHATWG URL serialisation browsers send: lower-case hex groups, the first
    longest run of two or more zero groups as `::`, IPv4-mapped addresses in hex too
    (Python 3.13's `str()` writes those dotted, so it is not used)."""
    packed = address.packed
    groups = [packed[i] << 8 | packed[i + 1] for i in range(0, 16, 2)]
    best_start, best_len, start = -1, 1, -1
    for i, group in enumerate([*groups, 1]):  # the sentinel closes a trailing run
        if group == 0:
            start = i if start < 0 else start
        elif start >= 0:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = -1
    text = [format(g, "x") for g in groups]
    if best_start >= 0:
        head = ":".join(text[:best_start])
        tail = ":".join(text[best_start + best_len :])
        compressed = f"{head}::{tail}"
    else:
        compressed = ":".join(text)
    return compressed + (f"%{address.scope_id}" if address.scope_id else "")


def bad_host_char(token: str) -> str:
    """The first character that cannot occur in a domain token (§A.5.1), or ""."""
    for ch in token:
        if ch.isascii():
            if not (ch.isalnum() or ch in ".-_"):
                return ch
        elif not ch.isprintable() or ch.isspace():
            return ch
    return ""


def _bad_char_reason(token: str) -> str:
    ch = bad_host_char(token)
    if not ch:
        return f"`{token}` is not a valid host name"
    shown = ch if ch.isprintable() and not ch.isspace() else repr(ch)
    return f"`{token}` contains '{shown}'"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around an allocation-heavy parse.

    A parse allocates two acyclic objects per rule (Rule, SourceRef) into an ever-growing
    list; the generational collector keeps re-scanning it, which measured at 15-45 % of
    parse time on the corpus (more for rule-dense lists). Nothing a parser creates needs
    the cycle collector, and the previous state is restored even on `ListRejected`.
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def long_line(
    list_id: str, line_no: int, raw: str, prefix: str, comment_marks: tuple[str, ...]
) -> Diagnostic:
    """The diagnostic for a line over the §A.10 limit (shared with the hosts parser).

    A comment is ignored anyway, so an over-long one is only a notice: converted lists
    carry 64 commented-out ABP filters of 4-12k characters. Anything else is an error.
    """
    comment = raw.lstrip(" \t").startswith(comment_marks)
    return Diagnostic(
        list_id,
        line_no,
        _NOTICE if comment else _ERROR,
        f"{prefix}.line-too-long",
        f"line is {len(raw):,} characters, over the {MAX_LINE_CHARS:,} limit "
        f"(§A.10); {'comment ' if comment else ''}line skipped",
    )
