"""First-party attribution: which top-level site a request belongs to (TPL spec §A.7 items
1-4, learning.md §B2).

The proxy sees requests, not tabs. It keeps a small in-memory record of the page contexts
that top-level navigations opened ("engaged sites") and of the frame documents requested
from them, and attributes each subresource through its `Origin`/`Referer` origin:

- the origin's site is engaged -> that site is the first party (§B2 rule 2);
- the origin is a frame document recently requested from one engaged site -> that site
  (frames do not change the context, §A.7 item 2); from two sites -> ambiguous, dropped;
- otherwise the request is unattributed; the policy then fails open unless
  `Sec-Fetch-Site: cross-site` says it is third-party anyway (§A.7 item 4).

Nothing here does I/O; the clock is injected so tests need no sleeps. Entries expire
(sliding: a page that keeps loading keeps its context) and the record is bounded, so a
hostile page cannot grow it without limit. Only origins and sites are held, never URLs,
with one exception: the URLs of frame documents the proxy just blocked (`note_blocked`),
for at most FRAME_TTL and MAX_ENTRIES, so that the blocked frame's own resources are
blocked with it (issue 9); they never leave memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from trackguard.domain import memo_short_urls, site_of, split_url
from trackguard.model import Decision

#: How long a page context stays open after its last request (sliding).
PAGE_TTL = 30 * 60.0
#: How long a frame document keeps mapping to its top-level site (§B2: a short TTL).
FRAME_TTL = 5 * 60.0
#: How often a page context's sliding expiry is shared with sibling workers.
TOUCH_EVERY = 60.0
#: Upper bound on remembered sites and frame origins each.
MAX_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class PageContext:
    """A first-party site and the origin of the top-level page that opened it."""

    site: str
    page_origin: str  # "scheme://host[:port]", used as the engine's source URL


@memo_short_urls(8192)
def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an absolute URL, or "" when it has no host."""
    parts = split_url(url)
    if not parts.host:
        return ""
    rest = parts.text[len(parts.scheme) + 3 :]
    slash = rest.find("/")
    return f"{parts.scheme}://{rest[:slash] if slash >= 0 else rest}"


@memo_short_urls(8192)
def site_of_url(url: str) -> str:
    host = split_url(url).host
    return site_of(host) if host else ""


class NavigationRecord:
    """Engaged sites and frame documents, bounded and expiring.

    Mutable, but only the asyncio server (one thread) updates it, and the policy function
    only reads it through `context_for`.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        page_ttl: float = PAGE_TTL,
        frame_ttl: float = FRAME_TTL,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._clock = clock
        #: Called with each local change (see `apply`); `workers.RecordSync` sets it so
        #: sibling worker processes share one record.
        self.publish: Callable[[tuple[str, ...]], None] | None = None
        self._page_ttl = page_ttl
        self._frame_ttl = frame_ttl
        self._max = max_entries
        # site -> (page origin, expiry)
        self._pages: OrderedDict[str, tuple[str, float]] = OrderedDict()
        # frame origin -> {top site: (page origin, expiry)}
        self._frames: OrderedDict[str, dict[str, tuple[str, float]]] = OrderedDict()
        # blocked document URL (no fragment) -> (what blocked it, expiry); read-only outside
        self.blocked_documents: OrderedDict[str, tuple[Decision | None, float]] = OrderedDict()

    def engage(self, url: str) -> None:
        """A top-level navigation answered 2xx HTML: open a page context (§B2 rule 1)."""
        origin = origin_of(url)
        site = site_of_url(url)
        if not site:
            return
        self._open_page(site, origin)
        if self.publish is not None:
            self.publish(("page", site, origin))

    def _open_page(self, site: str, origin: str) -> None:
        self._pages[site] = (origin, self._clock() + self._page_ttl)
        self._pages.move_to_end(site)
        while len(self._pages) > self._max:
            self._pages.popitem(last=False)

    def note_frame(self, frame_url: str, context: PageContext) -> None:
        """A frame document was requested from `context` (§B2 rule 2, second bullet)."""
        origin = origin_of(frame_url)
        if not origin:
            return
        self._add_frame(origin, context.site, context.page_origin)
        if self.publish is not None:
            self.publish(("frame", origin, context.site, context.page_origin))

    def _add_frame(self, origin: str, site: str, page_origin: str) -> None:
        tops = self._frames.get(origin)
        if tops is None:
            tops = self._frames[origin] = {}
        tops[site] = (page_origin, self._clock() + self._frame_ttl)
        self._frames.move_to_end(origin)
        while len(self._frames) > self._max:
            self._frames.popitem(last=False)

    def apply(self, event: tuple[str, ...]) -> None:
        """Apply a change published by a sibling worker's record; malformed ones are ignored.

        `("page", site, page origin)`: a page context opened (or was used: the sliding
        expiry is shared too); `("frame", frame origin, top site, page origin)`;
        `("blocked", document URL)`: a frame document was blocked.
        """
        if len(event) == 3 and event[0] == "page" and event[1] and event[2]:
            self._open_page(event[1], event[2])
        elif len(event) == 4 and event[0] == "frame" and all(event[1:]):
            self._add_frame(event[1], event[2], event[3])
        elif len(event) == 2 and event[0] == "blocked" and event[1]:
            self._add_blocked(event[1], None)

    def note_blocked(self, document_url: str, why: Decision | None) -> None:
        """A document (frame) was blocked: requests it makes are blocked with it."""
        url = document_url.split("#", 1)[0]
        self._add_blocked(url, why)
        if self.publish is not None:
            # Siblings learn the URL, not the rule (their verdict names the layer only).
            self.publish(("blocked", url))

    def _add_blocked(self, url: str, why: Decision | None) -> None:
        self.blocked_documents[url] = (why, self._clock() + self._frame_ttl)
        self.blocked_documents.move_to_end(url)
        while len(self.blocked_documents) > self._max:
            self.blocked_documents.popitem(last=False)

    def forget_blocked(self, document_url: str) -> None:
        """The document was allowed since (the user allowed it): no longer blocked."""
        self.blocked_documents.pop(document_url.split("#", 1)[0], None)

    def blocked_document(self, referer: str) -> tuple[bool, Decision | None]:
        """(True, what blocked it) when `referer` is a document blocked a moment ago."""
        if not self.blocked_documents:
            return False, None
        entry = self.blocked_documents.get(referer.split("#", 1)[0])
        if entry is None or entry[1] <= self._clock():
            return False, None
        return True, entry[0]

    def is_engaged(self, site: str) -> bool:
        entry = self._pages.get(site)
        return entry is not None and entry[1] > self._clock()

    def context_for(self, initiator_origin: str) -> PageContext | None:
        """The page context of a request made from `initiator_origin`, or None.

        None covers both "unknown" and "ambiguous" (one frame origin live under two
        sites): §B2 drops ambiguous attributions rather than guessing.
        """
        now = self._clock()
        site = site_of_url(initiator_origin)
        if not site:
            return None
        entry = self._pages.get(site)
        if entry is not None:
            if entry[1] > now:
                # Sliding expiry: a page that is still loading keeps its context. Siblings
                # hear of it at most once a minute per site (not once per request).
                if self.publish is not None and entry[1] - self._page_ttl + TOUCH_EVERY < now:
                    self.publish(("page", site, entry[0]))
                self._pages[site] = (entry[0], now + self._page_ttl)
                return PageContext(site, entry[0])
            del self._pages[site]
        tops = self._frames.get(initiator_origin)
        if tops:
            live = {s: v for s, v in tops.items() if v[1] > now}
            if len(live) != len(tops):
                if live:
                    self._frames[initiator_origin] = live
                else:
                    del self._frames[initiator_origin]
            if len(live) == 1:
                top_site, (page_origin, _) = next(iter(live.items()))
                return PageContext(top_site, page_origin)
        return None

    def __len__(self) -> int:
        return len(self._pages) + len(self._frames) + len(self.blocked_documents)
