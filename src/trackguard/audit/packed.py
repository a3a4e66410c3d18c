"""A `Tally` as plain lists, dicts and strings in msgpack: what a Dask worker sends back.

Pickling the `Tally` objects themselves cost the client most of its time on a cluster:
every dataclass and `Counter` is rebuilt by Python-level code when unpickled, and the
bursts of new containers set off cyclic-GC passes over the client's whole heap (~16 ms
per ~300 KB partial of 20,000 log rows, merge included). Here a partial is packed into
builtins and msgpack (C speed, and safe to read: no code runs on loading, unlike pickle)
with the GC paused, and `merge_packed` adds the builtins straight into the client's
running `Tally`, creating objects only for keys it has not seen (~5 ms per partial).
`merge_packed(Tally(), loads(dumps(t)))` reports as `t` does (a test checks it).

Pure: no I/O. The packed form is an internal message between one trackguard version's
client and workers, never a file format; a malformed one raises `ValueError`.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from trackguard.audit.figures import DomainTally, PageTally, SiteTally, Tally, _add

Packed = tuple[Any, ...]


def pack(tally: Tally) -> Packed:
    """The tally as builtins (shares no mutable object with it but the count lists)."""
    return (
        tally.totals,
        [(key, p.counts, dict(p.urls), dict(p.sites)) for key, p in tally.pages.items()],
        [
            (key, s.counts, list(s.pages), dict(s.companies), dict(s.trackers))
            for key, s in tally.sites.items()
        ],
        [
            (
                key,
                (d.requests, d.third_party, d.blocked, d.tunnel, d.bytes, d.cookies),
                list(d.sites),
                list(d.pages),
                dict(d.rules),
                dict(d.types),
            )
            for key, d in tally.domains.items()
        ],
        dict(tally.types),
        dict(tally.blocked_types),
        dict(tally.skipped),
        list(tally.broken),
    )


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC for a burst of acyclic containers (a packed partial)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def dumps(tally: Tally) -> bytes:
    """The tally packed into msgpack bytes (a worker's answer)."""
    import msgpack  # with dask.distributed (the `audit` extra): only workers and clients

    with gc_paused():
        data: bytes = msgpack.packb(pack(tally))
        return data


def loads(data: bytes) -> Packed:
    """`dumps`' bytes back as builtins (arrays as tuples, so rule keys stay hashable)."""
    import msgpack

    with gc_paused():
        packed = msgpack.unpackb(data, use_list=False, strict_map_key=False)
    if not isinstance(packed, tuple) or len(packed) != 8:
        raise ValueError("not a packed audit tally")
    return packed


def _update(into: Counter[Any], other: dict[Any, int]) -> None:
    """`Counter.update` without its Python-level type checks (a plain dict of ints)."""
    if not into:
        dict.update(into, other)
        return
    get = into.get
    for key, n in other.items():
        into[key] = get(key, 0) + n


def _counter(counts: dict[Any, int]) -> Counter[Any]:
    made: Counter[Any] = Counter()
    dict.update(made, counts)
    return made


def merge_packed(total: Tally, packed: Packed) -> Tally:
    """Add a packed partial into `total` (as `Tally.merge` would add the partial)."""
    with gc_paused():
        return _merge_packed(total, packed)


def _merge_packed(total: Tally, packed: Packed) -> Tally:
    totals, pages, sites, domains, types, blocked_types, skipped, broken = packed
    _add(total.totals, totals)
    known_pages = total.pages
    for key, counts, urls, page_sites in pages:
        page = known_pages.get(key)
        if page is None:
            known_pages[key] = PageTally(list(counts), _counter(urls), _counter(page_sites))
        else:
            _add(page.counts, counts)
            _update(page.urls, urls)
            _update(page.sites, page_sites)
    known_sites = total.sites
    for key, counts, site_pages, companies, trackers in sites:
        site = known_sites.get(key)
        if site is None:
            known_sites[key] = SiteTally(
                list(counts), set(site_pages), _counter(companies), _counter(trackers)
            )
        else:
            _add(site.counts, counts)
            site.pages.update(site_pages)
            _update(site.companies, companies)
            _update(site.trackers, trackers)
    known_domains = total.domains
    for key, numbers, domain_sites, domain_pages, rules, domain_types in domains:
        domain = known_domains.get(key)
        if domain is None:
            domain = known_domains[key] = DomainTally()
        requests, third_party, blocked, tunnel, size, cookies = numbers
        domain.requests += requests
        domain.third_party += third_party
        domain.blocked += blocked
        domain.tunnel += tunnel
        domain.bytes += size
        domain.cookies += cookies
        domain.sites.update(domain_sites)
        domain.pages.update(domain_pages)
        _update(domain.rules, rules)
        _update(domain.types, domain_types)
    _update(total.types, types)
    _update(total.blocked_types, blocked_types)
    _update(total.skipped, skipped)
    total.broken.update(broken)
    return total
