"""From HTTP exchanges to observations: the part every adapter shares (learning.md §B2-§B4).

The proxy and the HAR reader each own attribution (who the first party is) and hand an
exchange plus its attributed page host to `Feed.observation`. The feed keeps, in memory
only and bounded, the two things §B3/§B4 let an adapter remember: a page context's own
first-party cookie values (for `url_id`, at most 30 minutes) and the cookie names a host
set with `Partitioned` under a site (so they are left out when sent back). Nothing here
does I/O or is ever persisted; values are capped before they are parsed.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import suppress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from trackguard.domain import site_of, split_url
from trackguard.learn.model import Observation, ResponseShape, SetCookieInfo
from trackguard.model import RequestType
from trackguard.policy.classify import request_type

#: Cap on one header value read by the feed (a 1 MB cookie is cut, never parsed whole).
MAX_HEADER = 16384
MAX_ITEMS = 64
PAGE_TTL = 30 * 60.0
MAX_PAGES = 512
DAY = 86400


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its response as an adapter saw it. Header names are lower case."""

    time: float  # seconds since the epoch (only to expire in-memory page cookies)
    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    status: int
    response_headers: tuple[tuple[str, str], ...] = ()
    size: int = -1
    resource_type: RequestType | None = None  # when the adapter knows it (HAR `_resourceType`)

    @property
    def day(self) -> int:
        return int(self.time // DAY)

    def header(self, name: str) -> str:
        for key, value in self.request_headers:
            if key == name:
                return value
        return ""


def parse_cookie_header(value: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for part in value[:MAX_HEADER].split(";"):
        if len(pairs) >= MAX_ITEMS:
            break
        name, sep, val = part.strip().partition("=")
        if sep and name:
            pairs.append((name.strip(), val.strip().strip('"')))
    return tuple(pairs)


def parse_set_cookie(value: str, now: float) -> SetCookieInfo | None:
    head, *attrs = value[:MAX_HEADER].split(";")
    name, sep, val = head.strip().partition("=")
    if not sep or not name.strip():
        return None
    partitioned = deletes = False
    for attr in attrs[:MAX_ITEMS]:
        key, _, arg = attr.strip().partition("=")
        key = key.strip().lower()
        if key == "partitioned":
            partitioned = True
        elif key == "max-age":
            with suppress(ValueError):
                deletes = deletes or int(arg.strip()) <= 0
        elif key == "expires":
            with suppress(TypeError, ValueError, IndexError, OverflowError):
                deletes = deletes or parsedate_to_datetime(arg.strip()).timestamp() < now
    return SetCookieInfo(name.strip(), val.strip().strip('"'), partitioned, deletes)


_CONTENT_CLASSES = (
    ("javascript", "script"),
    ("ecmascript", "script"),
    ("css", "style"),
    ("font", "font"),
    ("woff", "font"),
    ("image/", "image"),
    ("video/", "media"),
    ("audio/", "media"),
    ("mpegurl", "media"),
    ("html", "html"),
    ("json", "json"),
    ("text/", "text"),
)


def content_class(content_type: str) -> str:
    ct = content_type[:200].lower()
    for needle, name in _CONTENT_CLASSES:
        if needle in ct:
            return name
    return "other"


class Feed:
    """Builds observations; remembers page cookies and partitioned names (memory only)."""

    def __init__(self) -> None:
        # site -> (expiry, first-party cookie values)
        self._page_cookies: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()
        # (site, host) -> cookie names set with Partitioned
        self._partitioned: OrderedDict[tuple[str, str], set[str]] = OrderedDict()

    def _remember_page_values(self, site: str, values: list[str], now: float) -> None:
        old = self._page_cookies.get(site)
        kept = old[1] if old is not None and old[0] > now else []
        for value in values:
            if len(value) >= 8 and value not in kept:
                kept.append(value[:256])
        self._page_cookies[site] = (now + PAGE_TTL, kept[-MAX_ITEMS:])
        self._page_cookies.move_to_end(site)
        while len(self._page_cookies) > MAX_PAGES:
            self._page_cookies.popitem(last=False)

    def page_values(self, site: str, now: float) -> tuple[str, ...]:
        entry = self._page_cookies.get(site)
        return tuple(entry[1]) if entry is not None and entry[0] > now else ()

    def _note_partitioned(self, site: str, host: str, cookies: tuple[SetCookieInfo, ...]) -> None:
        new = {c.name for c in cookies if c.partitioned}
        if not new:
            return
        key = (site, host)
        self._partitioned.setdefault(key, set()).update(list(new)[:MAX_ITEMS])
        self._partitioned.move_to_end(key)
        while len(self._partitioned) > MAX_PAGES * 8:
            self._partitioned.popitem(last=False)

    def note_unattributed(self, ex: Exchange) -> None:
        """An exchange without a first party still teaches which names a host partitions.

        Its site is unknown, so the names are remembered for the host under every site:
        a partitioned cookie set where attribution failed is not counted when sent back.
        """
        host = split_url(ex.url).host
        if not host:
            return
        cookies = tuple(
            c
            for name, value in ex.response_headers[: MAX_ITEMS * 2]
            if name == "set-cookie" and "artitioned" in value
            for c in (parse_set_cookie(value, ex.time),)
            if c is not None
        )
        self._note_partitioned("", host, cookies)

    def observation(
        self, ex: Exchange, site_host: str, *, user_agent: str = ""
    ) -> Observation | None:
        """The observation for one attributed exchange; None for first-party requests,
        whose cookie values are remembered for the page context instead."""
        parts = split_url(ex.url)
        host = parts.host
        if not host or not site_host:
            return None
        site = site_of(site_host)
        now = ex.time
        sent = parse_cookie_header(ex.header("cookie"))
        set_cookies = tuple(
            c
            for name, value in ex.response_headers[: MAX_ITEMS * 2]
            if name == "set-cookie"
            for c in (parse_set_cookie(value, now),)
            if c is not None
        )[:MAX_ITEMS]
        if site_of(host) == site:
            values = [v for _, v in sent] + [c.value for c in set_cookies if not c.deletes]
            if values:
                self._remember_page_values(site, values, now)
            return None
        self._note_partitioned(site, host, set_cookies)
        part_names = self._partitioned.get((site, host), set()) | self._partitioned.get(
            ("", host), set()
        )
        if part_names:
            sent = tuple((n, v) for n, v in sent if n not in part_names)
        headers = dict(ex.request_headers[:MAX_ITEMS])
        rtype = ex.resource_type or request_type(headers, parts)
        if "ping-to" in headers or "ping-from" in headers:
            rtype = RequestType.PING
        path, _, query_text = parts.text[len(parts.scheme) + 3 + len(host) :].partition("?")
        path = "/" + path.split("/", 1)[1] if "/" in path else "/"
        query = tuple(
            (name, value)
            for item in query_text[:MAX_HEADER].split("&")[:MAX_ITEMS]
            for name, _, value in (item.partition("="),)
            if item
        )
        ctype = next((v for n, v in ex.response_headers if n == "content-type"), "")
        shape = ResponseShape(ex.status, content_class(ctype), ex.size) if ex.status else None
        return Observation(
            day=ex.day,
            site_host=site_host,
            request_host=host,
            request_type=rtype,
            method=ex.method.upper()[:16],
            path=path[:1024],
            sent_cookies=sent,
            set_cookies=set_cookies,
            query=query,
            response=shape,
            page_cookie_values=self.page_values(site, now),
            page_url="",
            user_agent=user_agent or headers.get("user-agent", ""),
        )
