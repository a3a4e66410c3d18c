"""HAR files as learner input (learning.md §B2 "HAR import"): entries to exchanges.

The shared reader (`trackguard.har`) streams entries; this adapter owns attribution for
them, and it is exact: the first party of an entry is the page it belongs to (`pages` /
`pageref`, tracked by the reader as the page's documents commit). The day comes from
`startedDateTime`. Entries without a page are dropped, never guessed (§B2 rule 3).
Must not: keep anything beyond the exchange it yields, or decide what is a tracker.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from trackguard.domain import split_url
from trackguard.har import HarEntry, HarError, HarStats, entry_type, read_har
from trackguard.learn.feed import Exchange

__all__ = ["HarError", "exchange_of", "har_files", "read_har_exchanges"]


def har_files(paths: Iterable[Path]) -> list[Path]:
    """The `.har` files named or found (recursively) in the folders named, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*.har") if p.is_file()))
        else:
            out.append(path)
    return out


def exchange_of(entry: HarEntry) -> tuple[Exchange, str] | None:
    """(exchange, first-party page host) for one entry; None when it has no page or time."""
    if entry.started is None or not entry.page_url:
        return None
    site_host = split_url(entry.page_url).host
    if not site_host:
        return None
    request = tuple((n.lower(), v) for n, v in entry.request_headers)
    if entry.request_cookies and not any(n == "cookie" for n, _ in request):
        cookie = "; ".join(f"{c.name}={c.value}" for c in entry.request_cookies[:64])
        request += (("cookie", cookie),)
    response = tuple((n.lower(), v) for n, v in entry.response_headers)
    if entry.response_cookies and not any(n == "set-cookie" for n, _ in response):
        response += tuple(
            ("set-cookie", f"{c.name}={c.value}" + ("; Expires=" + c.expires if c.expires else ""))
            for c in entry.response_cookies[:64]
        )
    if entry.mime_type and not any(n == "content-type" for n, _ in response):
        response += (("content-type", entry.mime_type),)
    exchange = Exchange(
        time=entry.started.timestamp(),
        method=entry.method,
        url=entry.url,
        request_headers=request,
        status=entry.status,
        response_headers=response,
        size=entry.body_size,
        resource_type=entry_type(entry),
    )
    return exchange, site_host


def read_har_exchanges(path: Path, stats: HarStats | None = None) -> Iterator[tuple[Exchange, str]]:
    """Stream one HAR file's attributed exchanges; unattributed entries yield ("" site)."""
    for item in read_har(path, stats=stats):
        if not isinstance(item, HarEntry):
            continue
        found = exchange_of(item)
        if found is not None:
            yield found
