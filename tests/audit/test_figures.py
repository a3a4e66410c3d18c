"""The figures' data model: counts vectors line up with their names, and merging is
commutative and adds everything up (what makes partitions and clusters exact)."""

from __future__ import annotations

import copy
from collections import Counter

from trackguard.audit import figures
from trackguard.audit.figures import FIGURES, DomainTally, N, PageTally, SiteTally, Tally


def test_every_figure_has_its_index() -> None:
    assert N == len(FIGURES) == len(set(FIGURES))
    for index, name in enumerate(FIGURES):
        constant = {
            "third_party_requests": "THIRD_PARTY",
            "blocked_by_lists": "BLOCKED",
            "stopped_by_tunnels": "TUNNEL",
            "third_party_cookies_sent": "COOKIES_SENT",
            "third_party_cookies_set": "COOKIES_SET",
            "dnt_requests": "DNT",
            "gpc_requests": "GPC",
            "detailed_requests": "DETAILED",
            "third_party_requests_by_site": "THIRD_PARTY_BY_SITE",
        }.get(name, name.upper())
        assert getattr(figures, constant) == index, name


def _tally(page: str, n: int) -> Tally:
    tally = Tally()
    tally.totals[figures.REQUESTS] = n
    tally.pages[page] = PageTally([n] + [0] * (N - 1), Counter({page: n}), Counter({"a.test": n}))
    tally.sites["a.test"] = SiteTally(
        [n] + [0] * (N - 1), {page}, Counter({"Ads": n}), Counter({"ads.test": n})
    )
    rule = ("list.txt", 3, "||ads.test^")
    tally.domains["ads.test"] = DomainTally(
        n, n, n, 0, 10 * n, 0, {"a.test"}, {page}, Counter({rule: n}), Counter(script=n)
    )
    tally.types["script"] = n
    tally.skipped["not-a-web-url"] = 1
    tally.broken.add((page, "bad-json"))
    return tally


def test_merging_adds_up_in_any_order() -> None:
    one, two = _tally("p1", 2), _tally("p2", 3)
    forward = copy.deepcopy(one).merge(copy.deepcopy(two))
    backward = copy.deepcopy(two).merge(copy.deepcopy(one))
    for merged in (forward, backward):
        assert merged.totals[figures.REQUESTS] == 5
        assert set(merged.pages) == {"p1", "p2"}
        site = merged.sites["a.test"]
        assert site.counts[figures.REQUESTS] == 5 and site.pages == {"p1", "p2"}
        assert site.companies == {"Ads": 5} and site.trackers == {"ads.test": 5}
        domain = merged.domains["ads.test"]
        assert (domain.requests, domain.blocked, domain.bytes) == (5, 5, 50)
        assert domain.pages == {"p1", "p2"} and sum(domain.rules.values()) == 5
        assert merged.skipped == {"not-a-web-url": 2}
        assert merged.broken == {("p1", "bad-json"), ("p2", "bad-json")}
    assert forward == backward
