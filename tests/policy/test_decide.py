"""The policy layer (TPL spec §A.7, §A.8) as a plain function, table-driven."""

from __future__ import annotations

import pytest
from proxy_helpers import FakeMatcher

from trackguard.model import RequestType
from trackguard.policy.attribution import NavigationRecord
from trackguard.policy.decide import (
    LAYER_REASONS,
    Layer,
    MemoMatcher,
    PolicyConfig,
    decide,
    decide_tunnel,
    describe_rule,
    strip_params,
)
from trackguard.settings import Settings

LIST = """-d tracker.test
-d ads.test /banner/
-d partner.test /track/
+d partner.test
$removeparam=utm_source
"""
HTML = "text/html,application/xhtml+xml,*/*;q=0.8"
SITE = "http://www.site.test/"


@pytest.fixture
def matcher() -> FakeMatcher:
    return FakeMatcher(LIST)


@pytest.fixture
def record() -> NavigationRecord:
    r = NavigationRecord()
    r.engage("http://www.site.test/index.html")
    return r


CASES = [
    # (name, url, headers, expected blocked, expected layer)
    (
        "third-party tracker script",
        "http://tracker.test/t.js",
        {"referer": SITE},
        True,
        Layer.LIST_BLOCK,
    ),
    (
        "subdomain of tracker",
        "http://cdn.tracker.test/p.gif",
        {"origin": "http://www.site.test"},
        True,
        Layer.LIST_BLOCK,
    ),
    (
        "first-party resource",
        "http://img.site.test/a.png",
        {"referer": SITE},
        False,
        Layer.NO_MATCH,
    ),
    ("neutral third party", "http://cdn.test/lib.js", {"referer": SITE}, False, Layer.NO_MATCH),
    (
        "allow rule beats block",  # `-d partner.test /track/` matches, `+d partner.test` lifts it
        "http://ads.partner.test/track/x",
        {"referer": SITE},
        False,
        Layer.LIST_ALLOW,
    ),
    (
        "allow rule without a block is no match",
        "http://ads.partner.test/x",
        {"referer": SITE},
        False,
        Layer.NO_MATCH,
    ),
    ("pattern rule", "http://ads.test/banner/1.png", {"referer": SITE}, True, Layer.LIST_BLOCK),
    ("pattern miss", "http://ads.test/img/1.png", {"referer": SITE}, False, Layer.NO_MATCH),
    # Revised §A.7 item 4: unattributed and not a possible navigation -> host-only rules.
    ("no referer: judged as a tunnel", "http://tracker.test/t.js", {}, True, Layer.LIST_BLOCK),
    (
        "unknown page: judged as a tunnel",
        "http://tracker.test/t.js",
        {"referer": "http://elsewhere.test/"},
        True,
        Layer.LIST_BLOCK,
    ),
    (
        "unattributed: pattern rules need the page",
        "http://ads.test/banner/1.png",
        {},
        False,
        Layer.NO_MATCH,
    ),
    (
        "unattributed frame navigation may be a navigation",
        "http://tracker.test/frame.html",
        {"sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe", "sec-fetch-site": "same-site"},
        False,
        Layer.UNATTRIBUTED,
    ),
    (
        "unknown page but cross-site metadata",
        "http://tracker.test/t.js",
        {
            "referer": "http://elsewhere.test/",
            "sec-fetch-site": "cross-site",
            "sec-fetch-mode": "no-cors",
            "sec-fetch-dest": "script",
        },
        True,
        Layer.LIST_BLOCK,
    ),
    (
        "same-site metadata, unattributed: judged as a tunnel",
        "http://tracker.test/t.js",
        {"sec-fetch-site": "same-site", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty"},
        True,
        Layer.LIST_BLOCK,
    ),
    (
        "top-level navigation with metadata",
        "http://tracker.test/",
        {
            "sec-fetch-mode": "navigate",
            "sec-fetch-dest": "document",
            "sec-fetch-site": "cross-site",
            "referer": SITE,
        },
        False,
        Layer.NAVIGATION,
    ),
    (
        "iframe navigation with metadata",
        "http://tracker.test/frame.html",
        {"sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe", "referer": SITE},
        True,
        Layer.LIST_BLOCK,
    ),
    (
        "html without metadata may be a link: never blocked",
        "http://tracker.test/page",
        {"accept": HTML, "referer": SITE},
        False,
        Layer.NAVIGATION,
    ),
    (
        "opaque origin falls back to referer",
        "http://tracker.test/x",
        {"origin": "null", "referer": SITE},
        True,
        Layer.LIST_BLOCK,
    ),
]


@pytest.mark.parametrize(
    ("url", "headers", "blocked", "layer"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide(
    matcher: FakeMatcher,
    record: NavigationRecord,
    url: str,
    headers: dict[str, str],
    blocked: bool,
    layer: Layer,
) -> None:
    v = decide("GET", url, headers, config=PolicyConfig(), matcher=matcher, record=record)
    assert (v.blocked, v.layer) == (blocked, layer)
    if v.blocked and v.layer is Layer.LIST_BLOCK:
        assert v.rule is not None and v.list == "test.tpl" and v.line is not None
    if v.layer is Layer.LIST_ALLOW:
        assert v.decision is not None and v.decision.overridden is not None
        assert (v.rule, v.decision.overridden.source.text) == (
            "+d partner.test",
            "-d partner.test /track/",
        )


def test_navigation_never_consults_the_lists(
    matcher: FakeMatcher, record: NavigationRecord
) -> None:
    decide(
        "GET",
        "http://tracker.test/",
        {"accept": HTML},
        config=PolicyConfig(),
        matcher=matcher,
        record=record,
    )
    assert matcher.calls == 0


def test_user_overrides_come_first(matcher: FakeMatcher, record: NavigationRecord) -> None:
    h = {"referer": SITE}
    allow = PolicyConfig(user_allow=frozenset({"tracker.test"}))
    v = decide("GET", "http://x.tracker.test/t.js", h, config=allow, matcher=matcher, record=record)
    assert (v.blocked, v.layer) == (False, Layer.USER_ALLOW)
    block = PolicyConfig(user_block=frozenset({"cdn.test"}), protection=False)
    v = decide("GET", "http://cdn.test/x", h, config=block, matcher=matcher, record=record)
    assert (v.blocked, v.layer) == (True, Layer.USER_BLOCK)
    # A user block is a third-party rule: the site's own resources still load.
    own = PolicyConfig(user_block=frozenset({"site.test"}))
    v = decide("GET", "http://img.site.test/x", h, config=own, matcher=matcher, record=record)
    assert not v.blocked
    # The more specific override wins...
    both = PolicyConfig(
        user_allow=frozenset({"tracker.test"}), user_block=frozenset({"evil.tracker.test"})
    )
    v = decide("GET", "http://evil.tracker.test/", h, config=both, matcher=matcher, record=record)
    assert (v.blocked, v.layer) == (True, Layer.USER_BLOCK)
    v = decide("GET", "http://x.tracker.test/", h, config=both, matcher=matcher, record=record)
    assert (v.blocked, v.layer) == (False, Layer.USER_ALLOW)
    # ...and on a tie (the same domain allowed and blocked), allow wins.
    tie = PolicyConfig(user_allow=frozenset({"cdn.test"}), user_block=frozenset({"cdn.test"}))
    v = decide("GET", "http://img.cdn.test/x", h, config=tie, matcher=matcher, record=record)
    assert (v.blocked, v.layer) == (False, Layer.USER_ALLOW)
    assert decide_tunnel("img.cdn.test", config=tie, matcher=matcher).layer is Layer.USER_ALLOW


def test_protection_off_and_site_switch(matcher: FakeMatcher, record: NavigationRecord) -> None:
    h = {"referer": SITE}
    off = PolicyConfig(protection=False)
    v = decide("GET", "http://tracker.test/", h, config=off, matcher=matcher, record=record)
    assert (v.blocked, v.layer) == (False, Layer.PROTECTION_OFF)
    exempt = PolicyConfig.from_settings(Settings(exempt_sites=("WWW.Site.test",)))
    v = decide("GET", "http://tracker.test/", h, config=exempt, matcher=matcher, record=record)
    assert (v.blocked, v.layer) == (False, Layer.SITE_OFF)


def test_engage_and_frame_hints(matcher: FakeMatcher, record: NavigationRecord) -> None:
    nav = decide(
        "GET",
        "http://news.test/",
        {"accept": HTML},
        config=PolicyConfig(),
        matcher=matcher,
        record=record,
    )
    assert nav.engage and nav.type is RequestType.DOCUMENT
    frame = decide(
        "GET",
        "http://widget.test/f.html",
        {"accept": HTML, "referer": SITE},
        config=PolicyConfig(),
        matcher=matcher,
        record=record,
    )
    assert not frame.engage and frame.frame_of is not None
    assert frame.frame_of.site == "site.test"
    same_site_link = decide(
        "GET",
        "http://blog.site.test/",
        {"accept": HTML, "referer": SITE},
        config=PolicyConfig(),
        matcher=matcher,
        record=record,
    )
    assert same_site_link.engage
    post = decide(
        "POST",
        "http://news.test/form",
        {"accept": HTML},
        config=PolicyConfig(),
        matcher=matcher,
        record=record,
    )
    assert not post.engage


TUNNELS = [
    ("tracker.test", PolicyConfig(), True, Layer.LIST_BLOCK),
    ("a.b.tracker.test", PolicyConfig(), True, Layer.LIST_BLOCK),
    ("ads.test", PolicyConfig(), False, Layer.NO_MATCH),  # a pattern rule needs the URL
    ("partner.test", PolicyConfig(), False, Layer.NO_MATCH),
    ("tracker.test", PolicyConfig(exempt_sites=frozenset({"tracker.test"})), False, Layer.SITE_OFF),
    ("tracker.test", PolicyConfig(user_allow=frozenset({"tracker.test"})), False, Layer.USER_ALLOW),
    ("cdn.test", PolicyConfig(user_block=frozenset({"cdn.test"})), True, Layer.USER_BLOCK),
    ("tracker.test", PolicyConfig(protection=False), False, Layer.PROTECTION_OFF),
    ("TRACKER.test", PolicyConfig(), True, Layer.LIST_BLOCK),
]


@pytest.mark.parametrize(("host", "config", "blocked", "layer"), TUNNELS)
def test_decide_tunnel(
    matcher: FakeMatcher, host: str, config: PolicyConfig, blocked: bool, layer: Layer
) -> None:
    v = decide_tunnel(host, config=config, matcher=matcher)
    assert (v.blocked, v.layer) == (blocked, layer)


def test_strip_params_respects_overrides(matcher: FakeMatcher, record: NavigationRecord) -> None:
    h = {"referer": SITE}
    url = "http://cdn.test/a?utm_source=x&id=1"
    cfg = PolicyConfig()
    v = decide("GET", url, h, config=cfg, matcher=matcher, record=record)
    new, rules = strip_params(url, v, config=cfg, matcher=matcher)
    assert new == "http://cdn.test/a?id=1" and rules[0].removeparam == "utm_source"
    allow = PolicyConfig(user_allow=frozenset({"cdn.test"}))
    v = decide("GET", url, h, config=allow, matcher=matcher, record=record)
    assert strip_params(url, v, config=allow, matcher=matcher) == (url, ())
    off = PolicyConfig(protection=False)
    v = decide("GET", url, h, config=off, matcher=matcher, record=record)
    assert strip_params(url, v, config=off, matcher=matcher) == (url, ())


# -- the memo in front of the engine ---------------------------------------------------------


def test_memo_never_lets_a_cached_allow_hide_a_url_level_block(
    matcher: FakeMatcher, record: NavigationRecord
) -> None:
    memo = MemoMatcher(matcher)
    ref = {"referer": SITE}
    config = PolicyConfig()

    def run(url: str) -> bool:
        return decide("GET", url, ref, config=config, matcher=memo, record=record).blocked

    # Same host, same page, same type: only the URL differs (`-d ads.test /banner/`).
    assert not run("http://ads.test/x.js")
    assert not run("http://ads.test/x.js")  # memo hit
    assert run("http://ads.test/banner/x.js")
    assert not run("http://ads.test/x.js")
    assert run("http://ads.test/banner/x.js")
    assert matcher.calls == 2  # one engine call per distinct question


def test_memo_keys_on_source_and_type_and_matches_the_engine(matcher: FakeMatcher) -> None:
    memo = MemoMatcher(matcher)
    url = "http://tracker.test/t.js"
    # First party when the page is on tracker.test itself, third party elsewhere.
    own = memo.check(url, "http://tracker.test/", RequestType.SCRIPT)
    other = memo.check(url, "http://www.site.test/", RequestType.SCRIPT)
    image = memo.check(url, "http://www.site.test/", RequestType.IMAGE)
    assert not own.blocked and other.blocked and image.blocked
    for source in ("http://tracker.test/", "http://www.site.test/"):
        assert memo.check(url, source, RequestType.SCRIPT) == matcher.check(
            url, source, RequestType.SCRIPT
        )
    assert memo.check_host("cdn.tracker.test").blocked
    assert not memo.check_host("partner.test").blocked
    assert memo.removeparam("http://a.test/?utm_source=x&id=1", None)[0] == "http://a.test/?id=1"


def test_memo_is_bounded_and_skips_long_urls(matcher: FakeMatcher) -> None:
    memo = MemoMatcher(matcher, size=4)
    for i in range(10):
        memo.check(f"http://cdn.test/{i}", None)
    assert len(memo._checks) == 4
    assert ("http://cdn.test/9", None, "other") in memo._checks  # newest kept
    assert ("http://cdn.test/0", None, "other") not in memo._checks
    long_url = "http://cdn.test/" + "a" * MemoMatcher.MAX_URL
    memo.check(long_url, None)
    assert all(key[0] != long_url for key in memo._checks)
    memo.check("http://cdn.test/x", long_url)  # a long page URL (a hostile Referer) too
    assert all(key[1] != long_url for key in memo._checks)


def test_explanations_say_which_rule_from_which_list_or_which_layer() -> None:
    assert describe_rule("-d t.test", "l.tpl", 3, "list-block") == "-d t.test (l.tpl:3)"
    assert describe_rule("-d t.test", "l.tpl", None, "list-block") == "-d t.test (l.tpl)"
    assert describe_rule(None, None, None, "user-block") == "(user-block)"
    assert set(LAYER_REASONS) == {
        Layer.USER_ALLOW.value,
        Layer.USER_BLOCK.value,
        Layer.PROTECTION_OFF.value,
        Layer.SITE_OFF.value,
    }


# -- issue 9: beacons, blocked frames' resources, revised §A.7 item 4 ----------------------

BEACON = {
    "sec-fetch-mode": "no-cors",
    "sec-fetch-dest": "empty",
    "sec-fetch-site": "cross-site",
    "content-type": "text/plain;charset=UTF-8",
    "origin": "http://www.site.test",
}


def test_send_beacon_is_blocked_as_ping(matcher: FakeMatcher, record: NavigationRecord) -> None:
    v = decide(
        "POST",
        "http://tracker.test/c",
        BEACON,
        config=PolicyConfig(),
        matcher=matcher,
        record=record,
    )
    assert v.blocked and v.type is RequestType.PING


def test_resources_of_a_blocked_frame_are_blocked_with_it(
    matcher: FakeMatcher, record: NavigationRecord
) -> None:
    frame = "http://tracker.test/frame.html?x=1"
    frame_headers = {
        "sec-fetch-mode": "navigate",
        "sec-fetch-dest": "iframe",
        "sec-fetch-site": "cross-site",
        "referer": SITE,
    }
    config = PolicyConfig()
    v = decide("GET", frame, frame_headers, config=config, matcher=matcher, record=record)
    assert v.blocked and v.type is RequestType.SUBDOCUMENT
    # A resource on a neutral host, requested by the blocked frame document.
    child = {"referer": frame + "#top", "sec-fetch-dest": "image", "sec-fetch-mode": "no-cors"}
    v = decide(
        "GET", "http://cdn.test/pixel.png", child, config=config, matcher=matcher, record=record
    )
    assert v.blocked and v.layer is Layer.BLOCKED_DOCUMENT
    assert v.rule == "-d tracker.test"  # explained by the frame's rule
    # The user's allow still wins; another document of the host is not affected.
    allow = PolicyConfig(user_allow=frozenset({"cdn.test"}))
    v = decide(
        "GET", "http://cdn.test/pixel.png", child, config=allow, matcher=matcher, record=record
    )
    assert not v.blocked
    for overridden in (
        PolicyConfig(protection=False),
        PolicyConfig(exempt_sites=frozenset({"site.test"})),
    ):
        # Protection off, or off for the page's site (known here through `Origin`).
        with_page = {**child, "origin": "http://www.site.test"}
        v = decide(
            "GET",
            "http://cdn.test/pixel.png",
            with_page,
            config=overridden,
            matcher=matcher,
            record=record,
        )
        assert not v.blocked, overridden
    # Once the user allows the frame itself, its requests pass too.
    allowed_frame = PolicyConfig(user_allow=frozenset({"tracker.test"}))
    v = decide("GET", frame, frame_headers, config=allowed_frame, matcher=matcher, record=record)
    assert not v.blocked
    v = decide(
        "GET", "http://cdn.test/pixel.png", child, config=config, matcher=matcher, record=record
    )
    assert not v.blocked
    other = {**child, "referer": "http://www.site.test/other.html"}
    v = decide(
        "GET", "http://cdn.test/pixel.png", other, config=config, matcher=matcher, record=record
    )
    assert not v.blocked


def test_blocked_documents_expire_and_are_bounded() -> None:
    now = [0.0]
    r = NavigationRecord(clock=lambda: now[0], frame_ttl=10, max_entries=3)
    for i in range(5):
        r.note_blocked(f"http://t.test/{i}", None)
    assert not r.blocked_document("http://t.test/0")[0]
    assert r.blocked_document("http://t.test/4")[0]
    now[0] = 11
    assert not r.blocked_document("http://t.test/4")[0]


def test_unattributed_http_is_judged_like_https(
    matcher: FakeMatcher, record: NavigationRecord
) -> None:
    """`curl -x proxy http://tracker/collect` is refused as the HTTPS tunnel is."""
    config = PolicyConfig()
    tunnel = decide_tunnel("tracker.test", config=config, matcher=matcher)
    plain = decide(
        "GET",
        "http://tracker.test/collect",
        {"accept": "*/*"},
        config=config,
        matcher=matcher,
        record=record,
    )
    assert tunnel.blocked and plain.blocked and plain.rule == tunnel.rule
    # A GET for HTML may be a navigation (never blocked); a POST for HTML is judged.
    html = {"accept": HTML}
    assert not decide(
        "GET", "http://tracker.test/", html, config=config, matcher=matcher, record=record
    ).blocked
    assert decide(
        "POST", "http://tracker.test/", html, config=config, matcher=matcher, record=record
    ).blocked
    # User overrides and the switches still apply.
    allowed = PolicyConfig(user_allow=frozenset({"tracker.test"}))
    assert not decide(
        "GET", "http://tracker.test/collect", {}, config=allowed, matcher=matcher, record=record
    ).blocked
    off = PolicyConfig(protection=False)
    assert not decide(
        "GET", "http://tracker.test/collect", {}, config=off, matcher=matcher, record=record
    ).blocked


def test_blocked_documents_reach_sibling_workers() -> None:
    """A blocked frame seen by one worker blocks its resources at another (RecordSync)."""
    events: list[tuple[str, ...]] = []
    first, second = NavigationRecord(), NavigationRecord()
    first.publish = events.append
    first.note_blocked("http://tracker.test/frame.html#x", None)
    assert events == [("blocked", "http://tracker.test/frame.html")]
    for event in events:
        second.apply(event)
    assert second.blocked_document("http://tracker.test/frame.html")[0]
    second.apply(("blocked", ""))  # malformed: ignored
    assert len(second) == 1
