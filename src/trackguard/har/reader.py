"""The one streaming HAR 1.2 reader, shared by the auditor and the learner.

Request types of entries live in `request_types.py`; import both from `trackguard.har`.

Rules of this module:

1. Never load a file whole. The JSON is read as a stream of parser events (ijson, C backend)
   and only the fields we use are kept; response bodies (`content.text`), post bodies,
   timings and security details are skipped as they stream past.
2. HAR files are hostile input. File size, entry count, headers and cookies per entry and
   string lengths are capped (`HarLimits`); an entry over a cap is skipped and counted,
   never crashes the read. Malformed JSON raises `HarError` naming the file.
3. Values out are frozen: `HarPage` and `HarEntry`. Nothing here classifies requests against
   lists or decides first/third party: that belongs to the engine and `policy/`.

Exporters differ (all three are read the same way):

- Chrome DevTools puts the page URL in `pages[].title` and adds `_resourceType`,
  `_initiator` and `_transferSize` to entries.
- Firefox puts the URL (or the document title) in `pages[].title`; no `_resourceType`.
- Playwright puts the document title in `pages[].title` (never the URL) and no
  `_resourceType`; the page URL is the URL of its top-level document request.

So the page URL an entry belongs to is tracked as the page loads: the title when it is an
http(s) URL, then each top-level document request of that page (`Sec-Fetch-Dest:
document`, or without that header the page's first request and the targets of its
redirects) becomes the page URL for the entries after it. This is how the request log in
`corpus/requests/real-requests.jsonl.gz` assigns `source_url`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

import ijson

from trackguard.model import TrackguardError

__all__ = [
    "HarCookie",
    "HarEntry",
    "HarError",
    "HarLimits",
    "HarPage",
    "HarStats",
    "read_har",
    "read_har_pages",
]


class HarError(TrackguardError):
    """A HAR file that cannot be read at all (not JSON, not a HAR, too large)."""


@dataclass(frozen=True, slots=True)
class HarLimits:
    """Caps on hostile input; the defaults are far above any real browser export."""

    max_file_bytes: int = 2 * 1024**3
    max_entries: int = 200_000
    max_pages: int = 10_000
    max_headers: int = 500  # per request or response; more and the entry is skipped
    max_cookies: int = 500
    max_string: int = 65_536  # URLs, header values; a longer value skips the entry
    max_events_per_entry: int = 50_000


@dataclass(frozen=True, slots=True)
class HarPage:
    id: str
    url: str | None  # None when the title is not a URL (Playwright): see entries' page_url
    title: str
    started: datetime | None


@dataclass(frozen=True, slots=True)
class HarCookie:
    name: str
    value: str
    domain: str | None = None
    path: str | None = None
    expires: str | None = None
    http_only: bool = False
    secure: bool = False
    same_site: str | None = None


Header = tuple[str, str]


@dataclass(frozen=True, slots=True)
class HarEntry:
    """One request/response pair as recorded. Header names keep the exporter's case."""

    index: int  # 0-based position in `log.entries`
    pageref: str | None
    page_url: str | None  # the top-level page URL when this request started
    started: datetime | None
    method: str
    url: str
    request_headers: tuple[Header, ...]
    request_cookies: tuple[HarCookie, ...]
    status: int  # 0: no response recorded
    response_headers: tuple[Header, ...]
    response_cookies: tuple[HarCookie, ...]
    body_size: int  # bytes received (transfer size when known, else body size), -1 unknown
    mime_type: str
    resource_type: str | None  # Chrome's `_resourceType`
    initiator: str | None  # Chrome's `_initiator.type`, plus its URL when given
    has_post_data: bool = False  # a request body was recorded (postData or bodySize > 0)
    navigation: bool = False  # a top-level document request of its page (see module doc)

    def request_header(self, name: str) -> str | None:
        """The first request header called `name` (case-insensitive), else None."""
        return _header(self.request_headers, name)

    def response_header(self, name: str) -> str | None:
        return _header(self.response_headers, name)

    def response_header_values(self, name: str) -> tuple[str, ...]:
        lower = name.lower()
        return tuple(v for n, v in self.response_headers if n.lower() == lower)


@dataclass(slots=True)
class HarStats:
    """What a read skipped, filled in as the generator runs (for reports and warnings)."""

    entries: int = 0
    pages: int = 0
    skipped_entries: int = 0
    skipped_reasons: dict[str, int] | None = None

    def skip(self, reason: str) -> None:
        self.skipped_entries += 1
        if self.skipped_reasons is None:
            self.skipped_reasons = {}
        self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + 1


def _header(headers: tuple[Header, ...], name: str) -> str | None:
    lower = name.lower()
    for n, v in headers:
        if n.lower() == lower:
            return v
    return None


# Parts of an entry we never keep; skipping them keeps memory per entry small even when a
# HAR embeds response bodies.
_SKIP_PREFIXES = (
    "response.content.text",
    "request.postData.text",
    "request.postData.params",
    "request.queryString",
    "_securityDetails",
    "timings",
    "cache",
    "_initiator.stack",
)


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Builder:
    """Builds one JSON value from ijson events below a prefix, skipping unwanted parts."""

    __slots__ = ("containers", "events", "keys", "limits", "root", "skip_depth")

    def __init__(self, limits: HarLimits) -> None:
        self.limits = limits
        self.root: Any = None
        self.containers: list[Any] = []
        self.keys: list[str | None] = []
        self.events = 0
        self.skip_depth = 0

    def _put(self, value: Any) -> None:
        if not self.containers:
            self.root = value
            return
        top = self.containers[-1]
        if isinstance(top, list):
            top.append(value)
        else:
            top[self.keys[-1]] = value

    def event(self, rel: str, event: str, value: Any) -> None:
        self.events += 1
        if self.events > self.limits.max_events_per_entry:
            raise _Skip("too-many-fields")
        if self.skip_depth:
            if event in ("start_map", "start_array"):
                self.skip_depth += 1
            elif event in ("end_map", "end_array"):
                self.skip_depth -= 1
            return
        if event == "map_key":
            full = f"{rel}.{value}" if rel else str(value)
            if full.startswith(_SKIP_PREFIXES):
                self.keys[-1] = None  # the value that follows is dropped
            else:
                self.keys[-1] = value
            return
        if (
            event not in ("end_map", "end_array")
            and self.containers
            and isinstance(self.containers[-1], dict)
            and self.keys[-1] is None
        ):
            # the value of a skipped key
            if event in ("start_map", "start_array"):
                self.skip_depth = 1
            return
        if event == "start_map":
            new: Any = {}
            self._put(new)
            self.containers.append(new)
            self.keys.append(None)
            if len(self.containers) > 8:
                raise _Skip("too-deep")
        elif event == "start_array":
            arr: list[Any] = []
            self._put(arr)
            self.containers.append(arr)
            self.keys.append(None)
            if len(self.containers) > 8:
                raise _Skip("too-deep")
        elif event in ("end_map", "end_array"):
            done = self.containers.pop()
            self.keys.pop()
            if isinstance(done, list) and len(done) > self.limits.max_headers:
                raise _Skip("too-many-items")
        else:
            if isinstance(value, str) and len(value) > self.limits.max_string:
                raise _Skip("string-too-long")
            self._put(value)


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: Any, default: int = -1) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    try:
        return int(value)  # ijson yields Decimal for non-integral numbers
    except (TypeError, ValueError, ArithmeticError):
        return default


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _headers(value: Any) -> tuple[Header, ...]:
    if not isinstance(value, list):
        return ()
    out = []
    for h in value:
        if isinstance(h, dict) and isinstance(h.get("name"), str):
            out.append((h["name"], _str(h.get("value"))))
    return tuple(out)


def _cookies(value: Any) -> tuple[HarCookie, ...]:
    if not isinstance(value, list):
        return ()
    out = []
    for c in value:
        if isinstance(c, dict) and isinstance(c.get("name"), str):
            same = c.get("sameSite")
            out.append(
                HarCookie(
                    name=c["name"],
                    value=_str(c.get("value")),
                    domain=c.get("domain") if isinstance(c.get("domain"), str) else None,
                    path=c.get("path") if isinstance(c.get("path"), str) else None,
                    expires=c.get("expires") if isinstance(c.get("expires"), str) else None,
                    http_only=c.get("httpOnly") is True,
                    secure=c.get("secure") is True,
                    same_site=same if isinstance(same, str) else None,
                )
            )
    return tuple(out)


def _is_web_url(text: str) -> bool:
    lower = text[:8].lower()
    return lower.startswith(("http://", "https://"))


def _page(raw: Any) -> HarPage | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    title = _str(raw.get("title"))
    return HarPage(
        id=raw["id"],
        url=title if _is_web_url(title) else None,
        title=title,
        started=_time(raw.get("startedDateTime")),
    )


class _PageTracker:
    """Which top-level document each page is on as its entries go by (see module doc)."""

    def __init__(self) -> None:
        self.pages: dict[str, HarPage] = {}
        self.current: dict[str | None, str] = {}
        self.seen_request: set[str | None] = set()
        self.redirect_to: dict[str | None, str] = {}
        self.last: str | None = None

    def add_page(self, page: HarPage) -> None:
        self.pages[page.id] = page
        if page.url is not None:
            self.current.setdefault(page.id, page.url)

    def resolve(self, pageref: str | None) -> str | None:
        """Entries without a (known) pageref belong to the page loaded most recently."""
        if pageref is not None and (pageref in self.pages or pageref in self.current):
            self.last = pageref
            return pageref
        return self.last if self.last is not None else pageref

    def is_navigation(
        self, pageref: str | None, url: str, headers: tuple[Header, ...], resource_type: Any
    ) -> bool:
        dest = _header(headers, "sec-fetch-dest")
        if dest is not None:
            return dest.lower() == "document"
        if isinstance(resource_type, str) and resource_type.lower() != "document":
            return False  # Chrome said what it is
        first = pageref not in self.seen_request
        return first or self.redirect_to.get(pageref) == url

    def page_url(
        self, pageref: str | None, url: str, entry: dict[str, Any]
    ) -> tuple[str | None, bool]:
        pageref = self.resolve(pageref)
        request = entry.get("request") or {}
        headers = _headers(request.get("headers"))
        navigation = self.is_navigation(pageref, url, headers, entry.get("_resourceType"))
        self.seen_request.add(pageref)
        if navigation:
            response = entry.get("response") or {}
            status = _int(response.get("status"), 0)
            # A navigation commits when it gets a final response; with no response or a
            # redirect the page stays where it was (unless it has no URL yet).
            if (status > 0 and not 300 <= status < 400) or pageref not in self.current:
                self.current[pageref] = url
            location = _header(_headers(response.get("headers")), "location")
            if location is None:
                location = _str(response.get("redirectURL")) or None
            if 300 <= status < 400 and location:
                self.redirect_to[pageref] = urljoin(url, location)
            return url, True  # a document's page is itself, redirects included
        return self.current.get(pageref), False


def _entry(index: int, raw: Any, tracker: _PageTracker, limits: HarLimits) -> HarEntry:
    if not isinstance(raw, dict):
        raise _Skip("not-an-object")
    request = raw.get("request")
    response = raw.get("response")
    if not isinstance(request, dict):
        raise _Skip("no-request")
    if not isinstance(response, dict):
        response = {}
    url = _str(request.get("url"))
    if not url:
        raise _Skip("no-url")
    pageref = raw.get("pageref") if isinstance(raw.get("pageref"), str) else None
    request_headers = _headers(request.get("headers"))
    response_headers = _headers(response.get("headers"))
    request_cookies = _cookies(request.get("cookies"))
    response_cookies = _cookies(response.get("cookies"))
    if max(len(request_headers), len(response_headers)) > limits.max_headers:
        raise _Skip("too-many-headers")
    if max(len(request_cookies), len(response_cookies)) > limits.max_cookies:
        raise _Skip("too-many-cookies")
    content = response.get("content") if isinstance(response.get("content"), dict) else {}
    transfer = _int(response.get("_transferSize"))
    body = _int(response.get("bodySize"))
    if transfer < 0:
        body_size = body if body >= 0 else _int(content.get("size") if content else None)
    else:
        body_size = transfer
    initiator_raw = raw.get("_initiator")
    initiator: str | None = None
    if isinstance(initiator_raw, dict):
        kind = _str(initiator_raw.get("type"))
        where = _str(initiator_raw.get("url"))
        initiator = f"{kind} {where}".strip() or None
    elif isinstance(initiator_raw, str):
        initiator = initiator_raw[:1000]
    resource_type = raw.get("_resourceType")
    page_url, navigation = tracker.page_url(pageref, url, raw)
    return HarEntry(
        index=index,
        pageref=pageref,
        page_url=page_url,
        started=_time(raw.get("startedDateTime")),
        method=_str(request.get("method"), "GET").upper()[:32],
        url=url,
        request_headers=request_headers,
        request_cookies=request_cookies,
        status=max(0, _int(response.get("status"), 0)),
        response_headers=response_headers,
        response_cookies=response_cookies,
        body_size=max(-1, body_size),
        mime_type=_str(content.get("mimeType") if content else None)[:200],
        resource_type=resource_type[:64] if isinstance(resource_type, str) else None,
        initiator=initiator,
        has_post_data=isinstance(request.get("postData"), dict)
        or _int(request.get("bodySize"), 0) > 0,
        navigation=navigation,
    )


def _open(path: Path, limits: HarLimits) -> IO[bytes]:
    try:
        size = os.stat(path).st_size
        if size > limits.max_file_bytes:
            raise HarError(f"{path}: {size} bytes is over the {limits.max_file_bytes} byte limit")
        return open(path, "rb")
    except OSError as exc:
        raise HarError(f"{path}: cannot open: {exc.strerror or exc}") from exc


def _events(stream: IO[bytes], path: Path) -> Iterator[tuple[str, str, Any]]:
    try:
        yield from ijson.parse(stream, use_float=False)
    except ijson.JSONError as exc:
        raise HarError(f"{path}: not valid JSON ({exc})") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise HarError(f"{path}: not valid JSON ({exc})") from exc


def read_har_pages(path: str | Path, limits: HarLimits | None = None) -> list[HarPage]:
    """The pages of a HAR file (one streamed pass that keeps only `log.pages`)."""
    limits = limits or HarLimits()
    path = Path(path)
    pages: list[HarPage] = []
    with _open(path, limits) as stream:
        builder: _Builder | None = None
        for prefix, event, value in _events(stream, path):
            if builder is None:
                if prefix == "log.pages.item" and event == "start_map":
                    builder = _Builder(limits)
                    builder.event("", event, value)
                continue
            try:
                builder.event(prefix[len("log.pages.item") + 1 :], event, value)
            except _Skip:
                builder = None
                continue
            if prefix == "log.pages.item" and event == "end_map":
                page = _page(builder.root)
                builder = None
                if page is not None and len(pages) < limits.max_pages:
                    pages.append(page)
    return pages


def read_har(
    path: str | Path,
    limits: HarLimits | None = None,
    stats: HarStats | None = None,
    pages: list[HarPage] | None = None,
) -> Iterator[HarPage | HarEntry]:
    """Yield the pages and entries of one HAR file in file order, streamed.

    Pages come before the entries that refer to them (a file that lists entries first is
    read twice: once for its pages, then for its entries). Raises `HarError` naming the
    file for anything that makes the file as a whole unusable; a malformed entry is
    skipped and counted in `stats`. `pages`, when given, receives the pages as read.
    """
    limits = limits or HarLimits()
    stats = stats if stats is not None else HarStats()
    path = Path(path)
    tracker = _PageTracker()
    seen_log = False
    entry_index = -1
    builder: _Builder | None = None
    building = ""  # "page" or "entry"
    saw_entries_before_pages = False
    skipping = ""  # the prefix of an item being skipped, until its end event
    with _open(path, limits) as stream:
        for prefix, event, value in _events(stream, path):
            if skipping:
                if prefix == skipping and event in ("end_map", "end_array"):
                    skipping = ""
                continue
            if builder is None:
                if prefix == "log" and event == "start_map":
                    seen_log = True
                elif prefix == "log.pages.item" and event == "start_map":
                    builder, building = _Builder(limits), "page"
                    builder.event("", event, value)
                elif prefix == "log.entries.item" and event == "start_map":
                    entry_index += 1
                    if entry_index >= limits.max_entries:
                        raise HarError(f"{path}: more than {limits.max_entries} entries")
                    if entry_index == 0 and not tracker.pages:
                        saw_entries_before_pages = True
                        for page in _pages_after(path, limits):
                            tracker.add_page(page)
                            stats.pages += 1
                            if pages is not None:
                                pages.append(page)
                            yield page
                    builder, building = _Builder(limits), "entry"
                    builder.event("", event, value)
                elif prefix == "log.entries.item":
                    # a scalar or array where an entry object belongs
                    entry_index += 1
                    stats.skip("not-an-object")
                    if event == "start_array":
                        skipping = prefix
                continue
            item_prefix = "log.pages.item" if building == "page" else "log.entries.item"
            try:
                builder.event(prefix[len(item_prefix) + 1 :], event, value)
            except _Skip as skip:
                stats.skip(skip.reason)
                builder = None
                if not (prefix == item_prefix and event in ("end_map", "end_array")):
                    skipping = item_prefix
                continue
            if prefix == item_prefix and event == "end_map":
                raw, builder = builder.root, None
                if building == "page":
                    read = _page(raw)
                    if read is None or saw_entries_before_pages:
                        continue  # already yielded by the look-ahead pass
                    if len(tracker.pages) >= limits.max_pages:
                        raise HarError(f"{path}: more than {limits.max_pages} pages")
                    tracker.add_page(read)
                    stats.pages += 1
                    if pages is not None:
                        pages.append(read)
                    yield read
                else:
                    try:
                        entry = _entry(entry_index, raw, tracker, limits)
                    except _Skip as skip:
                        stats.skip(skip.reason)
                        continue
                    stats.entries += 1
                    yield entry
    if not seen_log:
        raise HarError(f"{path}: not a HAR file (no top-level `log` object)")


def _pages_after(path: Path, limits: HarLimits) -> list[HarPage]:
    try:
        return read_har_pages(path, limits)
    except HarError:
        return []
