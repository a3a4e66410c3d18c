"""The policy layer with the real engine: the page it passes decides first/third party.

`test_decide.py` drives `decide` with a fake engine that has its own first-party logic, so
it cannot notice the policy dropping the page (`source_url=None`) on its way to the
engine. Here the real engine answers, and the cases are ones where the answer depends on
the page: a listed site's own resources (TPL `-d` and ABP `$third-party` rules are
third-party only) and `$domain=` rules. Mutations: tests/MUTATIONS.md.
"""

from __future__ import annotations

import pytest

from trackguard.engine import Engine
from trackguard.model import ListSource, RequestType
from trackguard.policy.attribution import NavigationRecord
from trackguard.policy.decide import Layer, PolicyConfig, decide, decide_for_page

LISTS = [
    ListSource("test.tpl", "msFilterList\n-d tracker.test\n"),
    ListSource(
        "test.txt",
        "[Adblock Plus 2.0]\n"
        "||cdn.test/ads.js$domain=site.test\n"
        "||cdn.test/pixel.gif$domain=~site.test\n"
        "||metrics.test^$third-party\n",
    ),
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_sources(LISTS)


@pytest.fixture
def record() -> NavigationRecord:
    r = NavigationRecord()
    for page in ("http://www.site.test/", "http://tracker.test/", "http://metrics.test/"):
        r.engage(page)
    r.engage("http://other.test/")
    return r


CASES = [
    # (page, url, blocked, rule)
    ("http://www.site.test/", "http://cdn.tracker.test/t.js", True, "-d tracker.test"),
    # A listed site's own scripts load on its own pages (TPL §A.5: `-d` is third-party only).
    ("http://tracker.test/", "http://cdn.tracker.test/t.js", False, None),
    ("http://metrics.test/", "http://api.metrics.test/v1", False, None),
    ("http://www.site.test/", "http://api.metrics.test/v1", True, "||metrics.test^$third-party"),
    # `$domain=` needs the page: it applies on site.test and nowhere else.
    ("http://www.site.test/", "http://cdn.test/ads.js", True, "||cdn.test/ads.js$domain=site.test"),
    ("http://other.test/", "http://cdn.test/ads.js", False, None),
    (
        "http://other.test/",
        "http://cdn.test/pixel.gif",
        True,
        "||cdn.test/pixel.gif$domain=~site.test",
    ),
    ("http://www.site.test/", "http://cdn.test/pixel.gif", False, None),
]


@pytest.mark.parametrize(("page", "url", "blocked", "rule"), CASES)
def test_the_page_reaches_the_engine(
    engine: Engine, record: NavigationRecord, page: str, url: str, blocked: bool, rule: str | None
) -> None:
    headers = {"referer": page, "accept": "*/*"}
    v = decide("GET", url, headers, config=PolicyConfig(), matcher=engine, record=record)
    assert (v.blocked, v.rule) == (blocked, rule)
    assert v.layer is (Layer.LIST_BLOCK if blocked else Layer.NO_MATCH)
    assert v.source_url == page
    direct = decide_for_page(url, page, v.type, config=PolicyConfig(), matcher=engine)
    assert (direct.blocked, direct.rule) == (blocked, rule)


def test_cross_site_metadata_without_a_known_page_still_names_the_initiator(
    engine: Engine,
) -> None:
    """§A.7 item 4: unknown page but `Sec-Fetch-Site: cross-site`: the initiator's origin
    is the page, so a `$domain=` rule for it applies."""
    headers = {
        "origin": "http://www.site.test",
        "sec-fetch-site": "cross-site",
        "sec-fetch-mode": "no-cors",
        "sec-fetch-dest": "script",
    }
    v = decide(
        "GET",
        "http://cdn.test/ads.js",
        headers,
        config=PolicyConfig(),
        matcher=engine,
        record=NavigationRecord(),
    )
    assert (v.blocked, v.type) == (True, RequestType.SCRIPT)
    assert v.rule == "||cdn.test/ads.js$domain=site.test"


def test_site_scoped_allow_holds_on_that_site_only(engine: Engine) -> None:
    """The dashboard's "allow it on this site": a (site, host) pair, nowhere else."""
    from trackguard.settings import Settings

    config = PolicyConfig.from_settings(
        Settings(site_allow=("www.site.test tracker.test", "garbage", "other.test  "))
    )
    assert config.site_allow == frozenset({("site.test", "tracker.test")})
    url = "http://cdn.tracker.test/t.js"
    here = decide_for_page(
        url, "http://site.test/", RequestType.SCRIPT, config=config, matcher=engine
    )
    assert not here.blocked and here.layer is Layer.USER_ALLOW
    there = decide_for_page(
        url, "http://other.test/", RequestType.SCRIPT, config=config, matcher=engine
    )
    assert there.blocked and there.layer is Layer.LIST_BLOCK
    # A user block of a more specific host still wins over the broader site allow.
    narrower = PolicyConfig(
        site_allow=config.site_allow, user_block=frozenset({"cdn.tracker.test"})
    )
    v = decide_for_page(
        url, "http://site.test/", RequestType.SCRIPT, config=narrower, matcher=engine
    )
    assert v.blocked and v.layer is Layer.USER_BLOCK
