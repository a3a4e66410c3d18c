"""Classify audit rows with the engine and count them into a mergeable `Tally`.

Rule 1: counting is commutative. A `Tally` of a partition merges with any other in any
order and gives the same result (sums, set unions, counters), so one process, a local
Dask cluster and a remote one (with retried tasks) produce identical reports.
Rule 2: no I/O. Rows come in as values (`AuditRow`), the engine is passed in.
Rule 3: every block is counted with the rule that made it (list, line, text), so each
figure of the report can be traced to rules.

What is counted (documents, i.e. top-level navigations, are requests but never
subresources: the proxy does not evaluate them, TPL spec §A.7 item 3):

- third party: the request's site (registrable domain, PSL with private section) differs
  from the page's, and, when entity data is given, the two do not belong to one company;
- blocked by lists: the engine's decision on the full URL in its page context;
- stopped by tunnels: what the proxy decides without interception: `https` requests by
  host alone (`engine.check_host`, §A.7 item 6), plain `http` by URL as above.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from trackguard.audit.entities import EntityMap
from trackguard.domain import site_of, split_url_fast
from trackguard.model import Decision, RequestType

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


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One request to audit. HAR input fills the detail fields; logs leave them unknown."""

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


class Checker(Protocol):
    """What the tally needs from the engine (`trackguard.engine.Engine` fits)."""

    def check_many(
        self, requests: Sequence[tuple[str, str | None, RequestType]]
    ) -> list[Decision]: ...

    def check_host(self, host: str) -> Decision: ...


def _counts() -> list[int]:
    return [0] * N


def _add(into: list[int], other: list[int]) -> None:
    for i, value in enumerate(other):
        into[i] += value


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
        return self


def _rule_key(decision: Decision) -> RuleKey | None:
    rule = decision.matched
    if rule is None:
        return None
    return (rule.source.list_id, rule.source.line, rule.source.text)


_DOCUMENT = RequestType.DOCUMENT
_TYPE_NAMES = {t: (t.name or "other").lower() for t in RequestType}


def tally_rows(
    rows: Iterable[AuditRow], engine: Checker, entities: EntityMap | None = None
) -> Tally:
    """Classify a partition of rows (one batch call to the engine) and count it."""
    entities = entities if entities else None
    tally = Tally()
    batch: list[tuple[AuditRow, str, str, str]] = []  # row, host, site, page site
    questions: list[tuple[str, str | None, RequestType]] = []
    for row in rows:
        scheme, host, _ = split_url_fast(row.url)
        if scheme not in ("http", "https", "ws", "wss") or not host:
            tally.skipped["not-a-web-url"] += 1
            continue
        page_host = split_url_fast(row.source_url)[1] if row.source_url else ""
        batch.append((row, host, site_of(host), site_of(page_host) if page_host else ""))
        if row.type is not _DOCUMENT:
            questions.append((row.url, row.source_url, row.type))
    decisions = iter(engine.check_many(questions))
    hosts: dict[str, Decision] = {}  # tunnel decisions, once per host per partition
    totals = tally.totals
    for row, host, site, page_site in batch:
        counts = _counts()
        counts[REQUESTS] = 1
        size = row.bytes if row.bytes > 0 else 0
        counts[BYTES] = size
        if row.detailed:
            counts[DETAILED] = 1
            counts[DNT] = int(row.dnt)
            counts[GPC] = int(row.gpc)
        page = tally.pages.get(row.page)
        if page is None:
            page = tally.pages[row.page] = PageTally()
        page.urls[row.source_url or ""] += 1
        page.sites[page_site] += 1
        site_tally = tally.sites.get(page_site)
        if site_tally is None:
            site_tally = tally.sites[page_site] = SiteTally()
        site_tally.pages.add(row.page)
        type_name = _TYPE_NAMES.get(row.type, "other")
        tally.types[type_name] += 1
        if row.type is not _DOCUMENT:
            counts[SUBRESOURCES] = 1
            decision = next(decisions)
            third_by_site = site != page_site or not page_site
            third = third_by_site and not (
                entities is not None and page_site and entities.related(host, page_site)
            )
            counts[THIRD_PARTY_BY_SITE] = int(third_by_site)
            if row.url.startswith("https:") or row.url.startswith("wss:"):
                tunnel = hosts.get(host)
                if tunnel is None:
                    tunnel = hosts[host] = engine.check_host(host)
            else:
                tunnel = decision
            blocked = decision.blocked
            if blocked:
                counts[BLOCKED] = 1
                counts[BLOCKED_BYTES] = size
                tally.blocked_types[type_name] += 1
            if tunnel.blocked:
                counts[TUNNEL] = 1
            if third:
                counts[THIRD_PARTY] = 1
                counts[THIRD_PARTY_BYTES] = size
                if row.detailed:
                    counts[COOKIES_SENT] = int(row.cookies_sent)
                    counts[COOKIES_SET] = int(row.cookies_set)
                company = entities.company(host) if entities is not None else None
                site_tally.companies[company or site] += 1
            if third or blocked:
                # Blocked first-party requests are trackers too (first-party analytics);
                # they are listed under their own domain.
                domain = tally.domains.get(site)
                if domain is None:
                    domain = tally.domains[site] = DomainTally()
                domain.requests += 1
                domain.third_party += third
                domain.bytes += size
                domain.sites.add(page_site)
                domain.pages.add(row.page)
                domain.types[type_name] += 1
                if row.detailed and (row.cookies_sent or row.cookies_set):
                    domain.cookies += 1
                if tunnel.blocked:
                    domain.tunnel += 1
                if blocked:
                    domain.blocked += 1
                    site_tally.trackers[site] += 1
                    key = _rule_key(decision)
                    if key is not None:
                        domain.rules[key] += 1
        _add(page.counts, counts)
        _add(site_tally.counts, counts)
        _add(totals, counts)
    return tally
