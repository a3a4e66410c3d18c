"""The plain path of `tally.tally_rows`: log rows without HAR detail or entity data,
classified and counted column by column at C speed.

It must give exactly the figures of the general path (`tally._count_rows`, which also
handles headers, sizes and companies): a test compares both on the real log and on
odd rows. No I/O.
"""

from __future__ import annotations

from collections import Counter
from itertools import compress, repeat
from operator import attrgetter, is_not

from trackguard.audit.facts import (
    _BLOCKED,
    _DOCUMENT,
    _SUB,
    _THIRD,
    _THIRD_BY_SITE,
    _TUNNEL,
    _TYPE_BITS,
    _TYPE_NAMES,
    Checker,
    Memo,
    _origin_memo,
    _page_site,
    _row_counts,
    _rule_key,
)
from trackguard.audit.figures import (
    AuditRow,
    DomainTally,
    PageTally,
    SiteTally,
    Tally,
    _add,
    _counts,
)
from trackguard.model import Decision, RequestType

# Column getters for `_tally_plain` (C-level, a row at a time).
_IS_DETAILED = attrgetter("detailed")
_BYTES_OF = attrgetter("bytes")
_URL_OF = attrgetter("url")
_PAGE_OF = attrgetter("page")
_SOURCE_OF = attrgetter("source_url")
_TYPE_OF = attrgetter("type")
#: A subresource's flags by (blocked, third party by site, the origin's tunnel fact).
_PLAIN_FLAGS = {
    (blocked, third, tunnel): _SUB
    | (_BLOCKED if blocked else 0)
    | ((_TUNNEL if blocked else 0) if tunnel < 0 else tunnel)
    | ((_THIRD | _THIRD_BY_SITE) if third else 0)
    for blocked in (False, True)
    for third in (False, True)
    for tunnel in (-1, 0, _TUNNEL)
}
#: Stands for the engine's decision on documents, which are not asked about.
_DOCUMENT_ROW = Decision(False, None, None, "a top-level navigation: not asked")


def _plain(rows: list[AuditRow]) -> bool:
    """No row with headers (HAR detail) or a known size: `_tally_plain` applies."""
    return not any(map(_IS_DETAILED, rows)) and max(map(_BYTES_OF, rows), default=0) <= 0


def _tally_plain(tally: Tally, rows: list[AuditRow], engine: Checker, memo: Memo) -> None:
    """`_tally_rows` for the common case, column by column at C speed: log rows (no
    headers, cookies or sizes) without entity data, where a row's figures follow from
    its page key, page URL, type, origin and decision alone.

    Rows are counted under one key of those (`Counter` over zipped columns: no Python
    step per row but the origin key's slice); a decision stands in the key by its
    identity (decisions are shared: a few hundred distinct ones per batch), kept alive
    by `decisions`. Origin facts, page sites, flags and rules are worked out once per
    distinct key (`_expand_plain`), rows without a web URL skipped there: the engine
    answers those at once (no host). A test compares this path with the general one.
    """
    urls = list(map(_URL_OF, rows))
    # The origin key of each URL (`facts._origin_facts`); its facts are looked up per key.
    keys = [url[:cut] if (cut := url.find("/", 8)) >= 0 else url for url in urls]
    sources = list(map(_SOURCE_OF, rows))
    types = list(map(_TYPE_OF, rows))
    bits = map(_TYPE_BITS.__getitem__, types)
    if _DOCUMENT in types:  # documents are not asked about (`tally` module doc)
        subresource = list(map(is_not, types, repeat(_DOCUMENT)))
        asked = compress(zip(urls, sources, bits, strict=True), subresource)
        answers = iter(engine.check_batch(list(asked)))
        decisions = [next(answers) if sub else _DOCUMENT_ROW for sub in subresource]
    else:
        decisions = engine.check_batch(list(zip(urls, sources, bits, strict=True)))
    ids = list(map(id, decisions))
    counted = Counter(zip(map(_PAGE_OF, rows), sources, types, keys, ids, strict=True))
    _expand_plain(tally, counted, dict(zip(ids, decisions, strict=True)), engine, memo)


#: A key of `_tally_plain`: (page key, page URL, type, origin key, the identity of the
#: row's decision).
PlainKey = tuple[str, str | None, RequestType, str, int]


def _expand_plain(
    tally: Tally,
    counted: Counter[PlainKey],
    decided: dict[int, Decision],
    engine: Checker,
    memo: Memo,
) -> None:
    """Add `_tally_plain`'s distinct keys into the figures: what `_expand_pages` and
    `_expand_domains` do for the general path, in one loop (a tracker row adds to its
    domain here directly), with each key's site, flags and rule looked up once."""
    rules = {key: _rule_key(d) for key, d in decided.items() if d.blocked}
    flag_of, origins, pages_seen = _PLAIN_FLAGS, memo.origins, memo.pages
    names = _TYPE_NAMES
    pages, domains = tally.pages, tally.domains
    groups: dict[tuple[str, str], dict[int, int]] = {}  # (page, page site) -> flags -> n
    types: dict[tuple[str, int], int] = {}  # (type name, blocked flag) -> n
    companies: dict[tuple[str, str], int] = {}  # (page site, domain) -> third-party n
    trackers: dict[tuple[str, str], int] = {}  # (page site, domain) -> blocked n
    page_key = ""
    page = PageTally()
    not_web = 0
    for (key, source, rtype, origin, decision), n in counted.items():
        facts = origins.get(origin)
        if facts is None:
            # `origin + "/"` has the origin key `origin`: the facts of all its URLs
            facts = _origin_memo(origins, origin, origin + "/", engine)
        if not facts:
            not_web += n
            continue
        if key != page_key:  # rows of one page mostly come together
            page_key = key
            page = pages.get(key) or pages.setdefault(key, PageTally())
        page_site = pages_seen.get(source)
        if page_site is None:
            page_site = _page_site(pages_seen, source)
        page.urls[source or ""] += n
        page.sites[page_site] += n
        if rtype is _DOCUMENT:
            flags = 0  # no flags without HAR detail
        else:
            _, site, tunnel = facts
            blocked = decision in rules
            third = site != page_site
            flags = flag_of[blocked, third, tunnel]
            if blocked or third:
                # A tracker row: third party, or blocked (first-party analytics too)
                domain = domains.get(site)
                if domain is None:
                    domain = domains[site] = DomainTally()
                domain.requests += n
                domain.sites.add(page_site)
                domain.pages.add(page_key)
                domain.types[names[rtype]] += n
                pair = (page_site, site)
                if third:
                    domain.third_party += n
                    companies[pair] = companies.get(pair, 0) + n
                if flags & _TUNNEL:
                    domain.tunnel += n
                if blocked:
                    domain.blocked += n
                    trackers[pair] = trackers.get(pair, 0) + n
                    rule = rules[decision]
                    if rule is not None:
                        domain.rules[rule] += n
        kind = (names[rtype], flags & _BLOCKED)
        types[kind] = types.get(kind, 0) + n
        group = groups.get((page_key, page_site))
        if group is None:
            group = groups[page_key, page_site] = {}
        group[flags] = group.get(flags, 0) + n
    if not_web:
        tally.skipped["not-a-web-url"] += not_web
    for (name, blocked_flag), n in types.items():
        tally.types[name] += n
        if blocked_flag:
            tally.blocked_types[name] += n
    _add_groups(tally, groups)
    sites = tally.sites
    for (page_site, site), n in companies.items():
        sites[page_site].companies[site] += n
    for (page_site, site), n in trackers.items():
        sites[page_site].trackers[site] += n


def _add_groups(tally: Tally, groups: dict[tuple[str, str], dict[int, int]]) -> None:
    """Add each (page, page site)'s rows, counted by flags, to the counts vectors of its
    page, its site and the totals (rows without a size)."""
    pages, sites, totals = tally.pages, tally.sites, tally.totals
    made: dict[tuple[int, int], list[int]] = {}  # (flags, n) repeat a lot: vectors made once
    for (page_key, page_site), group in groups.items():
        counts = _counts()
        for flags_n in group.items():
            vector = made.get(flags_n)
            if vector is None:
                vector = made[flags_n] = _row_counts(*flags_n, 0)
            _add(counts, vector)
        site_tally = sites.get(page_site)
        if site_tally is None:
            site_tally = sites[page_site] = SiteTally()
        site_tally.pages.add(page_key)
        _add(pages[page_key].counts, counts)
        _add(site_tally.counts, counts)
        _add(totals, counts)
