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

import gc
from collections import Counter
from collections.abc import Iterable
from typing import Any

from trackguard.audit.entities import EntityMap
from trackguard.audit.facts import (
    _BLOCKED,
    _DETAILED,
    _DNT,
    _DOCUMENT,
    _GPC,
    _SENT,
    _SET,
    _SUB,
    _THIRD,
    _THIRD_BY_SITE,
    _TUNNEL,
    _TYPE_BITS,
    _TYPE_NAMES,
    Checker,
    Memo,
    WebFacts,
    _origin_memo,
    _page_site,
    _row_counts,
    _rule_key,
)
from trackguard.audit.figures import (
    BLOCKED,
    BLOCKED_BYTES,
    BYTES,
    COOKIES_SENT,
    COOKIES_SET,
    DETAILED,
    DNT,
    FIGURES,
    GPC,
    REQUESTS,
    SUBRESOURCES,
    THIRD_PARTY,
    THIRD_PARTY_BY_SITE,
    THIRD_PARTY_BYTES,
    TUNNEL,
    UNREADABLE_ROWS,
    AuditRow,
    DomainTally,
    N,
    PageTally,
    RuleKey,
    SiteTally,
    Tally,
    _add,
    _counts,
)
from trackguard.audit.plain import _plain, _tally_plain
from trackguard.engine.batch import Question
from trackguard.model import Decision, RequestType

#: The figures' names are re-exported: callers import the tally's model from here.
__all__ = [
    "BLOCKED",
    "BLOCKED_BYTES",
    "BYTES",
    "COOKIES_SENT",
    "COOKIES_SET",
    "DETAILED",
    "DNT",
    "FIGURES",
    "GPC",
    "REQUESTS",
    "SUBRESOURCES",
    "THIRD_PARTY",
    "THIRD_PARTY_BYTES",
    "THIRD_PARTY_BY_SITE",
    "TUNNEL",
    "UNREADABLE_ROWS",
    "AuditRow",
    "Checker",
    "DomainTally",
    "Memo",
    "N",
    "PageTally",
    "RuleKey",
    "SiteTally",
    "Tally",
    "tally_rows",
]


def tally_rows(
    rows: Iterable[AuditRow],
    engine: Checker,
    entities: EntityMap | None = None,
    memo: Memo | None = None,
    into: Tally | None = None,
) -> Tally:
    """Classify a partition of rows (one batch call to the engine) and count it into
    `into` (a new `Tally` by default; counting into a running total is the same as
    merging this batch's tally into it, without making and merging one per batch).

    Two passes: the first looks up each row's origin and page facts and asks the engine
    about all subresources at once (`check_batch`: repeats decided once); the
    second counts rows under keys and only the distinct keys are expanded into the
    page, site, domain and total figures. Log rows without entity data take
    `_tally_plain` (column by column); HAR detail and entity data the general path.

    The cyclic garbage collector is paused for the batch: a batch makes ~10^5 acyclic
    tuples, and the collections they would trigger walk every live object again (all the
    rows held by the caller): measured, half of the audit's own cost per row. Reference
    counting still frees everything; nothing here forms a cycle.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        entities = entities if entities else None
        memo = (memo or Memo()).ready(engine, entities)
        tally = into if into is not None else Tally()
        rows = rows if isinstance(rows, list) else list(rows)
        if entities is None and _plain(rows):
            _tally_plain(tally, rows, engine, memo)
        else:
            _tally_rows(tally, rows, engine, entities, memo)
        return tally
    finally:
        if paused:
            gc.enable()


#: A row's key for the page figures: (page key, page site, page URL, type, flags).
PageKey = tuple[str, str, str | None, RequestType, int]
#: A tracker row's key for the domain figures: (site, page site, page key, company or
#: site when third party, type, flags, the rule's key when blocked, or its identity).
DomainKey = tuple[str, str, str, str | None, RequestType, int, Any]


def _tally_rows(
    tally: Tally, rows: list[AuditRow], engine: Checker, entities: EntityMap | None, memo: Memo
) -> None:
    # Pass 1: per row, the origin's facts (memoised per origin key: hosts repeat
    # massively) and the page's site (memoised per page URL); documents apart, and the
    # engine's questions about the subresources in one list.
    subs: list[AuditRow] = []
    facts: list[WebFacts] = []
    sub_sites: list[str] = []
    docs: list[AuditRow] = []
    doc_sites: list[str] = []
    questions: list[Question] = []
    pages_seen, origins = memo.pages, memo.origins
    add_sub, add_facts, add_site, ask = (
        subs.append,
        facts.append,
        sub_sites.append,
        questions.append,
    )
    add_doc, add_doc_site = docs.append, doc_sites.append
    bits = _TYPE_BITS
    not_web = 0
    for row in rows:
        url = row.url
        cut = url.find("/", 8)  # the origin key: see `_origin_facts`
        origin = url[:cut] if cut >= 0 else url
        known = origins.get(origin)
        if known is None:
            known = _origin_memo(origins, origin, url, engine)
        if not known:
            not_web += 1
            continue
        source = row.source_url
        page_site = pages_seen.get(source)
        if page_site is None:
            page_site = _page_site(pages_seen, source)
        rtype = row.type
        if rtype is _DOCUMENT:
            add_doc(row)
            add_doc_site(page_site)
        else:
            add_sub(row)
            add_facts(known)
            add_site(page_site)
            ask((url, source, bits[rtype]))
    if not_web:
        tally.skipped["not-a-web-url"] += not_web
    decisions = engine.check_batch(questions)
    _count_rows(tally, subs, facts, sub_sites, decisions, docs, doc_sites, entities, memo)


def _count_rows(
    tally: Tally,
    subs: list[AuditRow],
    facts: list[WebFacts],
    sub_sites: list[str],
    decisions: list[Decision],
    docs: list[AuditRow],
    doc_sites: list[str],
    entities: EntityMap | None,
    memo: Memo,
) -> None:
    """Pass 2: each row's flags and keys (one for its page, one more for a tracker
    domain); keys are counted at C speed (`Counter(list)`) and only distinct keys are
    expanded: most rows share their keys with many others."""
    relations = memo.relations
    page_rows: list[PageKey] = []
    domain_rows: list[DomainKey] = []
    add_page, add_domain = page_rows.append, domain_rows.append
    page_bytes: Counter[PageKey] = Counter()  # for rows that know their size
    domain_bytes: Counter[str] = Counter()
    for row, page_site in zip(docs, doc_sites, strict=True):
        flags = (
            (_DETAILED | (_DNT if row.dnt else 0) | (_GPC if row.gpc else 0)) if row.detailed else 0
        )
        key = (row.page, page_site, row.source_url, row.type, flags)
        add_page(key)
        if row.bytes > 0:
            page_bytes[key] += row.bytes
    for row, (host, site, tunnel), page_site, decision in zip(
        subs, facts, sub_sites, decisions, strict=True
    ):
        rtype = row.type
        detailed = row.detailed
        flags = (_DETAILED | (_DNT if row.dnt else 0) | (_GPC if row.gpc else 0)) if detailed else 0
        blocked = decision.blocked
        if tunnel < 0:  # plain http: the proxy sees the URL
            tunnel = _TUNNEL if blocked else 0
        flags |= (_SUB | _BLOCKED | tunnel) if blocked else (_SUB | tunnel)
        third = False
        who = None
        if site != page_site or not page_site:
            flags |= _THIRD_BY_SITE
            if entities is None:
                third, who = True, site
            else:
                relation = relations.get((host, page_site))
                if relation is None:
                    relation = relations[host, page_site] = _relation(
                        entities, host, site, page_site
                    )
                third, who = relation
            if third:
                flags |= _THIRD
                if detailed:
                    flags |= (_SENT if row.cookies_sent else 0) | (_SET if row.cookies_set else 0)
            else:
                who = None
        key = (row.page, page_site, row.source_url, rtype, flags)
        add_page(key)
        if third or blocked:
            # Blocked first-party requests are trackers too (first-party analytics);
            # they are listed under their own domain.
            rule = _rule_key(decision) if blocked else None
            add_domain((site, page_site, row.page, who, rtype, flags, rule))
            if row.bytes > 0:
                domain_bytes[site] += row.bytes
        if row.bytes > 0:
            page_bytes[key] += row.bytes
    _expand_pages(tally, Counter(page_rows), page_bytes)
    _expand_domains(tally, Counter(domain_rows), domain_bytes)


def _relation(entities: EntityMap, host: str, site: str, page_site: str) -> tuple[bool, str]:
    """(third party, company or site) of a host on a page of another site (or none)."""
    if page_site and entities.related(host, page_site):
        return False, site
    return True, entities.company(host) or site


def _expand_pages(tally: Tally, counted: Counter[PageKey], sizes: Counter[PageKey]) -> None:
    """Add a batch's distinct page keys into the page, site and total figures: counts
    vectors per (page, page site) and flags, so a few vector additions per page."""
    groups: dict[tuple[str, str], dict[int, list[int]]] = {}
    pages, types, blocked_types = tally.pages, tally.types, tally.blocked_types
    for key, n in counted.items():
        page_key, page_site, source_url, rtype, flags = key
        size = sizes.get(key, 0) if sizes else 0
        page = pages.get(page_key)
        if page is None:
            page = pages[page_key] = PageTally()
        page.urls[source_url or ""] += n
        page.sites[page_site] += n
        type_name = _TYPE_NAMES[rtype]
        types[type_name] += n
        if flags & _BLOCKED:
            blocked_types[type_name] += n
        group = groups.get((page_key, page_site))
        if group is None:
            group = groups[page_key, page_site] = {}
        seen = group.get(flags)
        if seen is None:
            group[flags] = [n, size]
        else:
            seen[0] += n
            seen[1] += size
    totals = tally.totals
    for (page_key, page_site), group in groups.items():
        counts = _counts()
        for flags, (n, size) in group.items():
            _add(counts, _row_counts(flags, n, size))
        site_tally = tally.sites.get(page_site)
        if site_tally is None:
            site_tally = tally.sites[page_site] = SiteTally()
        site_tally.pages.add(page_key)
        _add(pages[page_key].counts, counts)
        _add(site_tally.counts, counts)
        _add(totals, counts)


def _expand_domains(tally: Tally, counted: Counter[DomainKey], sizes: Counter[str]) -> None:
    """Add a batch's distinct tracker keys into the domain figures and each site's
    companies and trackers (after `_expand_pages`, which makes the sites)."""
    domains, sites = tally.domains, tally.sites
    companies: dict[tuple[str, str], int] = {}
    for (site, page_site, page_key, who, rtype, flags, rule), n in counted.items():
        domain = domains.get(site)
        if domain is None:
            domain = domains[site] = DomainTally()
        domain.requests += n
        domain.sites.add(page_site)
        domain.pages.add(page_key)
        domain.types[_TYPE_NAMES[rtype]] += n
        if flags & _THIRD:
            domain.third_party += n
            pair = (page_site, who or site)  # `who` is set on every third-party key
            companies[pair] = companies.get(pair, 0) + n
        if flags & _DETAILED and flags & (_SENT | _SET):
            domain.cookies += n
        if flags & _TUNNEL:
            domain.tunnel += n
        if flags & _BLOCKED:
            domain.blocked += n
            sites[page_site].trackers[site] += n
            if rule is not None:
                domain.rules[rule] += n
    for (page_site, company), n in companies.items():
        sites[page_site].companies[company] += n
    for site, size in sizes.items():
        domains[site].bytes += size
