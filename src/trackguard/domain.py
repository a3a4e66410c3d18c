"""Host names, registrable domains and the URL text rules match against.

Pure functions, no I/O: the Public Suffix List comes from the `publicsuffixlist` package,
which ships the list (private section included), so nothing is downloaded at run time.
Results are memoised in bounded caches because the same hosts recur constantly.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import idna
from publicsuffixlist import PublicSuffixList


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    """The parsed PSL, made when first needed: parsing it is ~35 ms, a third of the
    engine's import time, and building from EasyList-syntax lists never needs it."""
    return PublicSuffixList()


_AUTHORITY_END = re.compile(r"[/?#]")  # noqa: TID251 - fixed pattern, not list text  # read-only after construction; safe to share

MAX_HOST_LENGTH = 253  # RFC 1035 limit on a host name's text form

DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21"}


_T = TypeVar("_T")
#: Longest URL a URL-keyed memo keeps (`memo_short_urls`).
MEMO_URL_MAX = 2048


def memo_short_urls(maxsize: int) -> Callable[[Callable[[str], _T]], Callable[[str], _T]]:
    """`lru_cache(maxsize)` for a function of one URL that keeps only URLs of at most
    `MEMO_URL_MAX` characters: a client chooses its URLs and Referers, and a count bound
    alone would let a few thousand 64 KB URLs hold hundreds of MB. Longer ones are
    answered each time, uncached."""

    def wrap(function: Callable[[str], _T]) -> Callable[[str], _T]:
        cached = lru_cache(maxsize=maxsize)(function)

        def call(url: str) -> _T:
            return cached(url) if len(url) <= MEMO_URL_MAX else function(url)

        call.__doc__ = function.__doc__
        call.cache_info = cached.cache_info  # type: ignore[attr-defined]
        return call

    return wrap


def load_public_suffixes() -> None:
    """Parse the PSL now rather than on its first use (see `Engine.warm`)."""
    _psl()


@lru_cache(maxsize=65536)
def to_ascii_host(host: str) -> str:
    """Lower-case A-label form of a host, so IDN hosts compare by their DNS name.

    Hosts that IDNA 2008 refuses (underscores, emoji, ...) are still usable as keys: we
    fall back to Python's IDNA 2003 codec, then to the lower-cased text itself.
    """
    host = host.strip().rstrip(".").lower()
    if host.startswith("["):
        # IPv6 literals compare in their canonical (compressed) form, as browsers send.
        try:
            return f"[{ipaddress.IPv6Address(host.strip('[]')).compressed}]"
        except ValueError:
            return host
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError:
            return host


@lru_cache(maxsize=65536)
def is_ip_literal(host: str) -> bool:
    h = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not h or not (h[0].isdigit() or ":" in h):
        return False
    try:
        ipaddress.ip_address(h)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=131072)
def site_of(host: str) -> str:
    """The first-party *site* of a host: its registrable domain (eTLD+1).

    TPL spec §A.7 decision 1: IP literals and single-label hosts are their own site; a
    host that is itself a public suffix is also its own site (nothing else can share it).
    """
    if not host or "." not in host or is_ip_literal(host):
        return host
    # The public suffix and one more label: one PSL walk serves both this and a page's
    # `public_suffix` (`$domain=` keys), which a new page asks for at once.
    suffix = public_suffix(host)
    if suffix is None or len(suffix) >= len(host):
        return host  # a public suffix itself (or not a name the PSL reads)
    return host[host.rfind(".", 0, len(host) - len(suffix) - 1) + 1 :]


def same_site(host: str, other: str) -> bool:
    """`site_of(host) == site_of(other)`, without the PSL when the hosts end in
    different last two labels: a host's site is the host itself or a suffix of it of
    two labels or more, so two hosts can only share a site they both end in. Most
    third-party pairs (`tracker.com` on `news.co.uk`) are told apart by that alone.
    """
    if host == other:
        return True
    if (
        host[host.rfind(".", 0, host.rfind(".")) + 1 :]
        != other[other.rfind(".", 0, other.rfind(".")) + 1 :]
    ):
        return False
    return site_of(host) == site_of(other)


def registrable_domain(host: str) -> str | None:
    """eTLD+1 by the PSL, or None when the host is a public suffix, empty or invalid."""
    host = to_ascii_host(host)
    if not host or is_ip_literal(host):
        return None
    result: str | None = _psl().privatesuffix(host)
    return result


def is_public_suffix(name: str) -> bool:
    """Whether a name is itself a listed public suffix (`co.uk`, `github.io`, `com`).

    Unlisted single labels (`metrics`) are not: the PSL's implicit `*` rule is ignored.
    """
    name = to_ascii_host(name)
    if not name or is_ip_literal(name):
        return False
    return bool(_psl().publicsuffix(name, accept_unknown=False) == name)


@lru_cache(maxsize=65536)
def public_suffix(host: str) -> str | None:
    result: str | None = _psl().publicsuffix(host)
    return result


@dataclass(frozen=True, slots=True)
class UrlParts:
    """A URL split the way the matcher needs it."""

    scheme: str  # lower case, without "://"
    host: str  # A-label, lower case, no brackets removed for IPv6, no port
    text: str  # TPL spec §A.5.2 URL text: scheme://host[:port]/path?query


def split_url(url: str) -> UrlParts:
    """Parse an absolute URL without ever raising: a hostile URL yields empty parts.

    Userinfo and the fragment are dropped (a proxy never sees the fragment); the default
    port is dropped; path and query are kept exactly as sent (no percent-decoding).
    """
    return UrlParts(*split_url_fast(url))


#: Authorities known to be plain lower-case A-label hosts (`_is_plain_host`): one set
#: lookup per request instead of five scans and a call. Bounded: cleared when full.
_PLAIN_HOSTS: set[str] = set()
_PLAIN_HOSTS_MAX = 16384


def _is_plain_host(authority: str) -> bool:
    """A host alone (no userinfo, port, IPv6 brackets or query), in its A-label form."""
    if (
        "?" not in authority
        and "@" not in authority
        and ":" not in authority
        and "[" not in authority
        and len(authority) <= MAX_HOST_LENGTH
        and to_ascii_host(authority) == authority
    ):
        if len(_PLAIN_HOSTS) >= _PLAIN_HOSTS_MAX:
            _PLAIN_HOSTS.clear()
        _PLAIN_HOSTS.add(authority)
        return True
    return False


def split_url_fast(url: str) -> tuple[str, str, str]:
    """`split_url` as a plain (scheme, host, text) tuple: the matcher's hot path.

    Most URLs are `http(s)://host/...` with a lower-case host and nothing to drop: they
    are their own URL text, found with a few C-level scans instead of the full parse.
    """
    if url.startswith("https://"):
        start, scheme = 8, "https"
    elif url.startswith("http://"):
        start, scheme = 7, "http"
    else:
        start = 0
    if start:
        slash = url.find("/", start)
        if slash > start and "#" not in url:
            authority = url[start:slash]
            if authority in _PLAIN_HOSTS or _is_plain_host(authority):
                return scheme, authority, url
    sep = url.find("://")
    if sep <= 0 or ":" in url[:sep]:
        # `data:`, `about:blank`, `blob:https://...` or garbage: no network host.
        colon = url.find(":")
        return (url[:colon].lower() if colon > 0 else ""), "", url
    scheme = url[:sep]
    if not scheme.islower():
        scheme = scheme.lower()
    m = _AUTHORITY_END.search(url, sep + 3)
    end = m.start() if m else len(url)
    authority = url[sep + 3 : end]
    tail = url[end:]
    if tail:
        hash_at = tail.find("#")
        if hash_at >= 0:
            tail = tail[:hash_at]
    if "@" in authority:
        authority = authority[authority.rfind("@") + 1 :]
    port = ""
    if authority.startswith("["):
        close = authority.find("]")
        host = authority[: close + 1] if close > 0 else authority
        after = authority[close + 1 :] if close > 0 else ""
        if after.startswith(":"):
            port = after[1:]
    else:
        colon = authority.rfind(":")
        if colon >= 0:
            host, port = authority[:colon], authority[colon + 1 :]
        else:
            host = authority
    # A DNS name has at most 253 characters; anything longer cannot be fetched, so it
    # has no host to judge (and hostile lengths never reach the host caches).
    host = to_ascii_host(host) if len(host) <= MAX_HOST_LENGTH else ""
    if len(host) > MAX_HOST_LENGTH:
        host = ""
    if port and DEFAULT_PORTS.get(scheme) == port:
        port = ""
    if not tail.startswith("/"):
        tail = "/" + tail  # `https://a.example?q=1`: the server sees `/?q=1` (§A.5.2)
    if port:
        return scheme, host, f"{scheme}://{host}:{port}{tail}"
    return scheme, host, f"{scheme}://{host}{tail}"


def host_suffixes(host: str) -> list[str]:
    """`a.b.c` -> [`a.b.c`, `b.c`, `c`]: every parent domain, the host itself first."""
    out = [host]
    i = host.find(".")
    while i >= 0:
        out.append(host[i + 1 :])
        i = host.find(".", i + 1)
    return out


def is_subdomain_or_same(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)
