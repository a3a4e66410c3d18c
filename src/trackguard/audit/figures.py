"""The figures of an audit: counts vectors and the mergeable `Tally` they live in.

Counting is commutative: a `Tally` of a partition merges with any other in any order and
gives the same result (sums, set unions, counters), so one process, a local Dask cluster
and a remote one (with retried tasks) produce identical reports. Classification and
counting live in `tally.py`; this module is only the data model. No I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from operator import add
from typing import NamedTuple

from trackguard.model import RequestType

# Index of each figure in a counts vector (a plain list keeps merging and updates cheap).
REQUESTS = 0
SUBRESOURCES = 1
THIRD_PARTY = 2
BLOCKED = 3
TUNNEL = 4
BYTES = 5
THIRD_PARTY_BYTES = 6
BLOCKED_BYTES = 7
COOKIES_SENT = 8  # third-party requests that carried cookies
COOKIES_SET = 9  # third-party responses that set cookies
DNT = 10  # requests that carried `DNT: 1`
GPC = 11  # requests that carried `Sec-GPC: 1`
DETAILED = 12  # rows with headers/bytes known (HAR input), the base for the four above
THIRD_PARTY_BY_SITE = 13  # third party by site alone, ignoring entity relations
FIGURES = (
    "requests",
    "subresources",
    "third_party_requests",
    "blocked_by_lists",
    "stopped_by_tunnels",
    "bytes",
    "third_party_bytes",
    "blocked_bytes",
    "third_party_cookies_sent",
    "third_party_cookies_set",
    "dnt_requests",
    "gpc_requests",
    "detailed_requests",
    "third_party_requests_by_site",
)
N = len(FIGURES)

RuleKey = tuple[str, int, str]  # (list id, line, rule text)

#: Reasons in `Tally.skipped` that mean broken input (the others, e.g. `not-a-web-url` for
#: `data:` entries of a HAR, are normal and not worth a warning or an exit status).
UNREADABLE_ROWS = frozenset({"bad-json", "bad-csv", "line-too-long", "no-url"})


class AuditRow(NamedTuple):
    """One request to audit. HAR input fills the detail fields; logs leave them unknown.

    A NamedTuple, not a frozen dataclass (as `model.Rule`, for the same reason): one is
    made per input row, millions on a crawl log, and a frozen dataclass's `__init__`
    (one `object.__setattr__` per field) was ~1.4 µs of the ~3 µs a log row cost to read.
    Immutable all the same.
    """

    page: str  # a page-load key: HAR file + page id, a log's page column, or the page URL
    url: str
    source_url: str | None  # the top-level page URL when the request was made
    type: RequestType
    detailed: bool = False  # whether the fields below were recorded
    bytes: int = -1
    cookies_sent: bool = False
    cookies_set: bool = False
    dnt: bool = False
    gpc: bool = False


def _counts() -> list[int]:
    return [0] * N


def _add(into: list[int], other: list[int]) -> None:
    into[:] = map(add, into, other)  # element-wise, at C speed


@dataclass(slots=True)
class PageTally:
    counts: list[int] = field(default_factory=_counts)
    urls: Counter[str] = field(default_factory=Counter)  # page URLs seen (redirects)
    sites: Counter[str] = field(default_factory=Counter)

    def merge(self, other: PageTally) -> None:
        _add(self.counts, other.counts)
        self.urls.update(other.urls)
        self.sites.update(other.sites)


@dataclass(slots=True)
class SiteTally:
    counts: list[int] = field(default_factory=_counts)
    pages: set[str] = field(default_factory=set)
    companies: Counter[str] = field(default_factory=Counter)  # third-party requests by company
    trackers: Counter[str] = field(default_factory=Counter)  # blocked requests by domain

    def merge(self, other: SiteTally) -> None:
        _add(self.counts, other.counts)
        self.pages |= other.pages
        self.companies.update(other.companies)
        self.trackers.update(other.trackers)


@dataclass(slots=True)
class DomainTally:
    """One third-party registrable domain."""

    requests: int = 0  # third-party requests, plus first-party ones the lists blocked
    third_party: int = 0
    blocked: int = 0
    tunnel: int = 0
    bytes: int = 0
    cookies: int = 0  # requests that sent or set cookies
    sites: set[str] = field(default_factory=set)
    pages: set[str] = field(default_factory=set)
    rules: Counter[RuleKey] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)

    def merge(self, other: DomainTally) -> None:
        self.requests += other.requests
        self.third_party += other.third_party
        self.blocked += other.blocked
        self.tunnel += other.tunnel
        self.bytes += other.bytes
        self.cookies += other.cookies
        self.sites |= other.sites
        self.pages |= other.pages
        self.rules.update(other.rules)
        self.types.update(other.types)


@dataclass(slots=True)
class Tally:
    """Everything the report needs, mergeable across partitions."""

    totals: list[int] = field(default_factory=_counts)
    pages: dict[str, PageTally] = field(default_factory=dict)
    sites: dict[str, SiteTally] = field(default_factory=dict)
    domains: dict[str, DomainTally] = field(default_factory=dict)
    types: Counter[str] = field(default_factory=Counter)
    blocked_types: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # rows not audited, by reason
    broken: set[tuple[str, str]] = field(default_factory=set)  # (file, reason): read partly

    def merge(self, other: Tally) -> Tally:
        _add(self.totals, other.totals)
        for key, page in other.pages.items():
            if (mine := self.pages.get(key)) is None:
                self.pages[key] = page
            else:
                mine.merge(page)
        for key, site in other.sites.items():
            if (known := self.sites.get(key)) is None:
                self.sites[key] = site
            else:
                known.merge(site)
        for key, domain in other.domains.items():
            if (seen := self.domains.get(key)) is None:
                self.domains[key] = domain
            else:
                seen.merge(domain)
        self.types.update(other.types)
        self.blocked_types.update(other.blocked_types)
        self.skipped.update(other.skipped)
        self.broken |= other.broken
        return self
