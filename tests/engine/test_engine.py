"""End-to-end behaviour of `trackguard.engine.Engine`: lists in, decisions out.

Tables follow the TPL spec (Part A: §A.5-§A.8, the §A.6 table row by row) and the Adblock
Plus semantics the engine documents (ENGINE_API.md). Every request is third-party unless a
row says otherwise: the page is `https://site.example/`.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from trackguard.engine import Engine
from trackguard.model import (
    Action,
    Format,
    ListSource,
    Request,
    RequestType,
    Rule,
)

PAGE = "https://site.example/"


def tpl(*lines: str) -> str:
    return "msFilterList\n" + "\n".join(lines) + "\n"


def tpl_engine(*lines: str, strict_ie: bool = False) -> Engine:
    return Engine.from_text(tpl(*lines), Format.TPL, list_id="t.tpl", strict_ie=strict_ie)


def abp_engine(*lines: str) -> Engine:
    return Engine.from_text("\n".join(lines) + "\n", Format.ABP, list_id="a.txt")


def engine_of(*sources: tuple[str, str]) -> Engine:
    return Engine.from_sources(ListSource(list_id, text) for list_id, text in sources)


# --- TPL spec §A.6: the rule-forms table, row by row ----------------------------------------

A6_ROWS = [
    # rule, URLs that match, URLs that do not
    (
        "-d tracker.example",
        [
            "https://tracker.example/p.gif",
            "https://eu.tracker.example/t.js",
            "https://tracker.example.net/x",
        ],
        [
            "https://mytracker.example/",
            "https://tracker.examples.test/",
            "https://example.tracker.test/",
        ],
    ),
    (
        "-d metrics",
        ["https://metrics.news.example/a", "https://a.metrics.test/b"],
        ["https://metricsx.example/", "https://web-metrics.example/"],
    ),
    (
        "-d .no /ad/",
        ["https://news.no/ad/top.png"],
        ["https://news.no/img/top.png", "https://news.nope.test/ad/"],
    ),
    (
        "-d ads.example /banner/",
        ["https://ads.example/banner/1.png", "https://cdn.ads.example/x/banner/y.gif"],
        ["https://ads.example/img/1.png", "https://other.example/banner/1.png"],
    ),
    (
        "-d ads.example banner*.gif",
        ["https://ads.example/img/banner_728.gif", "https://ads.example/BANNER2.GIF"],
        ["https://ads.example/img/banner.png"],
    ),
    (
        "- /pixel.gif?",
        ["https://any.example/t/pixel.gif?id=1"],
        ["https://any.example/t/pixel.gif"],
    ),
    (
        "- /beacon*.js",
        [
            "https://x.example/beacon.js",
            "https://x.example/beacon-v2.min.js",
            "https://x.example/beacon.json",
        ],
        ["https://x.example/beacon.css"],
    ),
    (
        "- http://ad2.",
        ["http://ad2.example/x", "https://ad2.example/x"],
        ["https://www.ad2.example/x"],
    ),
    (
        "- &res=*&plg=*&url=",
        ["https://c.example/h?&res=1920&plg=3&url=a"],
        ["https://c.example/h?&url=a&res=1920&plg=3"],
    ),
    (
        "-d 203.0.113.7",
        ["http://203.0.113.7/ad.js"],
        ["http://203.0.113.70/ad.js", "http://ads.example/"],
    ),
]

A6_CASES = [
    pytest.param(rule, url, expected, id=f"{rule} {'blocks' if expected else 'spares'} {url}")
    for rule, yes, no in A6_ROWS
    for url, expected in [*((u, True) for u in yes), *((u, False) for u in no)]
]


@pytest.mark.parametrize(("rule", "url", "blocked"), A6_CASES)
def test_a6_block_rules(rule: str, url: str, blocked: bool) -> None:
    decision = tpl_engine(rule).check(url, PAGE, "image")
    assert decision.blocked is blocked
    if blocked:
        assert (decision.rule, decision.list, decision.line) == (rule, "t.tpl", 2)
    else:
        assert decision.matched is None


A6_ALLOW = [
    # allow rule, URL, allowed by it (else the block rule `-d partner.example` decides)
    ("+d partner.example", "https://partner.example/w.js", True),
    ("+d partner.example", "https://static.partner.example/w.js", True),
    ("+d partner.example", "https://partner.example.net/", False),
    ("+d partner.example /widget/", "https://partner.example/widget/a.js", True),
    ("+d partner.example /widget/", "https://partner.example/ads/a.js", False),
]


@pytest.mark.parametrize(("allow", "url", "allowed"), A6_ALLOW)
def test_a6_allow_rules(allow: str, url: str, allowed: bool) -> None:
    engine = tpl_engine("-d partner.example", allow)
    decision = engine.check(url, PAGE, "script")
    assert decision.blocked is not allowed
    if allowed:
        assert decision.rule == allow
        assert decision.matched is not None and decision.matched.action is Action.ALLOW
        assert decision.overridden is not None
        assert decision.overridden.source.text == "-d partner.example"
    else:
        assert decision.rule == "-d partner.example"
        assert decision.overridden is None


def test_a6_allow_needs_whole_right_most_labels() -> None:
    # `notpartner.example` is not under `partner.example`: the `-d example` block stands.
    engine = tpl_engine("-d example", "+d partner.example")
    assert engine.check("https://notpartner.example/", PAGE).rule == "-d example"
    assert not engine.check("https://cdn.partner.example/", PAGE).blocked


@pytest.mark.parametrize(
    "invalid",
    [
        "+ /widget/",
        "-d *.tracker.example",
        "-d ads.example/banner",
        "- *",
        "-/ads/",
        "-dads.example",
    ],
)
def test_a6_invalid_rules_are_not_loaded(invalid: str) -> None:
    engine = tpl_engine(invalid, "-d keep.example")
    assert len(engine) == 1
    assert [d.line for d in engine.diagnostics] == [2]
    for url in (
        "https://tracker.example/x",
        "https://ads.example/banner/",
        "https://w.example/ads/",
    ):
        assert not engine.check(url, PAGE).blocked


# --- §A.5.2 scheme equivalence and strict IE mode -------------------------------------------

SCHEMES = [
    # rule, URL, blocked by default, blocked in strict IE mode
    ("- http://ad2.", "http://ad2.example/x", True, True),
    ("- http://ad2.", "https://ad2.example/x", True, False),
    ("- https://ad2.", "http://ad2.example/x", False, False),
    ("- ws://push.", "wss://push.example/s", True, False),
    ("-d ad2.example http://ad2.example/x", "https://ad2.example/x", True, False),
    ("-d ad2.example", "https://ad2.example/x", True, True),
]


@pytest.mark.parametrize(("rule", "url", "default", "strict"), SCHEMES)
def test_scheme_equivalence(rule: str, url: str, default: bool, strict: bool) -> None:
    assert tpl_engine(rule).check(url, PAGE).blocked is default
    assert tpl_engine(rule, strict_ie=True).check(url, PAGE).blocked is strict


def test_strict_ie_changes_the_cache_key() -> None:
    assert (
        tpl_engine("- http://ad2.").cache_key
        != tpl_engine("- http://ad2.", strict_ie=True).cache_key
    )


def test_abp_anchors_have_no_scheme_equivalence() -> None:
    engine = abp_engine("|http://x.example/")
    assert engine.check("http://x.example/a", PAGE).blocked
    assert not engine.check("https://x.example/a", PAGE).blocked


# --- §A.5.1 / §A.5.2 URL text: case, ports, userinfo, IDN, IP literals ----------------------

URL_TEXT = [
    ("-d tracker.example", "https://TRACKER.Example/x", True),
    ("-d tracker.example", "https://tracker.example:8443/x", True),  # port never matters
    ("-d tracker.example", "https://user:pw@tracker.example/x", True),
    ("-d tracker.example", "https://tracker.example./x", True),  # trailing root dot
    ("- /ads/top", "https://x.example/img#/ads/top", False),  # fragment is not sent
    ("- user:pw", "https://user:pw@x.example/", False),  # userinfo is not URL text
    ("- x.example:443", "https://x.example:443/", False),  # default port dropped
    ("- x.example:8443", "https://x.example:8443/", True),
    ("- /a%20b", "https://x.example/a%20b", True),  # no percent-decoding
    ("- /a%20b", "https://x.example/a b", False),
    ("-d bücher.example", "https://xn--bcher-kva.example/", True),
    ("-d bücher.example", "https://BÜCHER.example/", True),
    ("-d xn--bcher-kva.example", "https://bücher.example/", True),
    ("-d 203.0.113.7", "http://203.0.113.7:8080/ad.js", True),
    ("-d 203.0.113.7", "http://1.203.0.113.7/", False),
    ("-d 2001:db8::1", "http://[2001:db8::1]/x", True),
    ("-d [2001:db8::1]", "http://[2001:db8::1]:8080/x", True),
    ("-d 2001:db8::1", "http://[2001:db8::10]/x", False),
    ("-d 2001:db8::1", "http://[2001:0DB8:0:0::1]/x", True),  # same address, other spelling
]


@pytest.mark.parametrize(("rule", "url", "blocked"), URL_TEXT)
def test_url_text(rule: str, url: str, blocked: bool) -> None:
    assert tpl_engine(rule).check(url, PAGE).blocked is blocked


# --- §A.7 first party and §A.8 precedence ---------------------------------------------------

FIRST_PARTY = [
    # TPL rule, request, page, blocked
    ("-d tracker.example", "https://tracker.example/x", "https://tracker.example/", False),
    ("-d tracker.example", "https://cdn.tracker.example/x", "https://www.tracker.example/", False),
    ("-d tracker.example", "https://tracker.example/x", "https://site.example/", True),
    ("-d tracker.example", "https://tracker.example/x", None, True),  # no page: third-party
    ("- /pixel.gif", "https://site.example/pixel.gif", "https://www.site.example/a", False),
    ("-d 203.0.113.7", "http://203.0.113.7/x", "http://203.0.113.7/", False),
    ("-d 203.0.113.7", "http://203.0.113.7/x", "http://203.0.113.8/", True),
    # Public Suffix List, private section: github.io users are separate sites
    ("-d bob.github.io", "https://bob.github.io/t.js", "https://alice.github.io/", True),
    ("-d cdn.co.uk", "https://cdn.co.uk/t.js", "https://shop.co.uk/", True),
]


@pytest.mark.parametrize(("rule", "url", "page", "blocked"), FIRST_PARTY)
def test_tpl_rules_are_third_party_only(
    rule: str, url: str, page: str | None, blocked: bool
) -> None:
    assert tpl_engine(rule).check(url, page).blocked is blocked


def test_allow_beats_block_within_a_list() -> None:
    decision = tpl_engine("-d ads.partner.example", "+d partner.example").check(
        "https://ads.partner.example/x", PAGE
    )
    assert not decision.blocked
    assert decision.rule == "+d partner.example"
    assert decision.overridden is not None
    assert decision.overridden.source.text == "-d ads.partner.example"


def test_allow_beats_block_across_lists() -> None:
    engine = engine_of(
        ("block.tpl", tpl("-d ads.partner.example")), ("allow.tpl", tpl("+d partner.example"))
    )
    decision = engine.check("https://ads.partner.example/x", PAGE)
    assert not decision.blocked
    assert (decision.rule, decision.list, decision.line) == ("+d partner.example", "allow.tpl", 2)
    assert decision.overridden is not None
    assert decision.overridden.source.list_id == "block.tpl"


def test_allow_from_one_format_beats_block_from_another() -> None:
    engine = engine_of(
        ("easylist.txt", "||ads.partner.example^\n"), ("site.tpl", tpl("+d partner.example"))
    )
    assert engine.check("https://ads.partner.example/x", PAGE).rule == "+d partner.example"


RULES = ["-d ads.example", "+d ok.ads.example", "-d ads.example /banner/", "- /pixel.gif"]
URLS = [
    "https://ads.example/x",
    "https://ok.ads.example/banner/1.gif",
    "https://ads.example/banner/1.gif",
    "https://w.example/pixel.gif",
    "https://w.example/img.gif",
]


def test_rule_order_never_matters() -> None:
    expected = [tpl_engine(*RULES).check(u, PAGE).blocked for u in URLS]
    assert expected == [True, False, True, True, False]
    for order in itertools.permutations(RULES):
        assert [tpl_engine(*order).check(u, PAGE).blocked for u in URLS] == expected


def test_list_order_never_matters() -> None:
    lists = [("a.tpl", tpl("-d ads.example")), ("b.tpl", tpl("+d ok.ads.example"))]
    for order in (lists, lists[::-1]):
        engine = engine_of(*order)
        assert engine.check("https://x.ads.example/", PAGE).blocked
        assert not engine.check("https://ok.ads.example/", PAGE).blocked


def test_hosts_entries_block_first_party_too() -> None:
    # hosts files have no notion of party: the entry blocks the host everywhere
    engine = engine_of(("hosts", "0.0.0.0 tracker.test\n"))
    assert engine.check("https://tracker.test/x", "https://tracker.test/").blocked
    assert engine.check("https://cdn.tracker.test/x", "https://site.example/").blocked


# --- Adblock Plus semantics -----------------------------------------------------------------

P, NO_PAGE, OTHER_PAGE = PAGE, None, "https://o.example/"

# (filters, [(URL, page, type, blocked), ...]): one engine per filter set.
ABP_GROUPS: list[tuple[tuple[str, ...], list[tuple[str, str | None, str, bool]]]] = [
    # `$third-party` / `$first-party` and their negations, against the page's site
    (
        ("||ads.example^$third-party",),
        [
            ("https://ads.example/x", P, "script", True),
            ("https://ads.example/x", "https://www.ads.example/", "script", False),
            ("https://ads.example/x", NO_PAGE, "script", True),  # no page: third-party
        ],
    ),
    (
        ("||ads.example^$~third-party",),
        [
            ("https://ads.example/x", "https://ads.example/", "script", True),
            ("https://ads.example/x", P, "script", False),
        ],
    ),
    (
        ("||ads.example^$1p",),
        [("https://cdn.ads.example/x", "https://ads.example/", "image", True)],
    ),
    (("||ads.example^$first-party",), [("https://ads.example/x", NO_PAGE, "image", False)]),
    (("||ads.example^$~first-party",), [("https://ads.example/x", P, "image", True)]),
    (("||ads.example^$3p",), [("https://ads.example/x", "https://ads.example/", "image", False)]),
    # types
    (
        ("||ads.example^$script",),
        [
            ("https://ads.example/a.js", P, "script", True),
            ("https://ads.example/a", P, "image", False),
        ],
    ),
    (
        ("||ads.example^$~script",),
        [
            ("https://ads.example/a.js", P, "script", False),
            ("https://ads.example/a", P, "image", True),
        ],
    ),
    (
        ("||ads.example^",),
        [
            ("https://ads.example/", P, "document", False),
            ("https://ads.example/", P, "popup", False),
        ],
    ),
    (
        ("||ads.example^$document",),
        [
            ("https://ads.example/", P, "document", True),
            ("https://ads.example/", P, "script", False),
        ],
    ),
    (
        ("||ads.example^$popup",),
        [("https://ads.example/", P, "popup", True), ("https://ads.example/", P, "other", False)],
    ),
    (
        ("||ads.example^$all",),
        [
            ("https://ads.example/", P, "document", True),
            ("https://ads.example/", P, "popup", True),
            ("https://ads.example/", P, "font", True),
        ],
    ),
    (
        ("||ads.example^$xhr",),
        [
            ("https://ads.example/", P, "xmlhttprequest", True),
            ("https://ads.example/", P, "fetch", True),  # request type alias
            ("https://ads.example/", P, "script", False),
        ],
    ),
    (("||ads.example^$ping",), [("https://ads.example/", P, "beacon", True)]),
    (("||ads.example^$subdocument",), [("https://ads.example/", P, "sub_frame", True)]),
    # `$domain=`: includes, excludes; the most specific entry wins
    (
        ("adv$domain=example.com|~foo.example.com",),
        [
            ("http://ads.test/adv", "http://example.com/", "other", True),
            ("http://ads.test/adv", "http://www.example.com/", "other", True),
            ("http://ads.test/adv", "http://foo.example.com/", "other", False),
            ("http://ads.test/adv", "http://www.foo.example.com/", "other", False),
            ("http://ads.test/adv", "http://other.com/", "other", False),
            ("http://ads.test/adv", NO_PAGE, "other", False),
        ],
    ),
    (
        ("adv$domain=~example.com|foo.example.com",),
        [
            ("http://ads.test/adv", "http://example.com/", "other", False),
            ("http://ads.test/adv", "http://foo.example.com/", "other", True),
            ("http://ads.test/adv", "http://www.foo.example.com/", "other", True),
        ],
    ),
    (
        ("adv$domain=~example.com",),
        [
            ("http://ads.test/adv", NO_PAGE, "other", True),
            ("http://ads.test/adv", "http://b.example.com/", "other", False),
            ("http://ads.test/adv", "http://b.com/", "other", True),
        ],
    ),
    # entity wildcard `google.*`: any public suffix after the label
    (
        ("||track.test^$domain=google.*",),
        [
            ("https://track.test/x", "https://www.google.co.uk/", "other", True),
            ("https://track.test/x", "https://google.de/", "other", True),
            ("https://track.test/x", "https://notgoogle.com/", "other", False),
            ("https://track.test/x", "https://google.example.com/", "other", False),
        ],
    ),
    (
        ("||track.test^$domain=google.*|~mail.google.com",),
        [
            ("https://track.test/x", "https://mail.google.com/", "other", False),
            ("https://track.test/x", "https://www.google.com/", "other", True),
        ],
    ),
    # `$denyallow`: request hosts the rule spares
    (
        ("*$script,denyallow=cdn.test|x.test,domain=site.example",),
        [
            ("https://cdn.test/a.js", P, "script", False),
            ("https://sub.cdn.test/a.js", P, "script", False),
            ("https://evil.test/a.js", P, "script", True),
            ("https://evil.test/a.js", OTHER_PAGE, "script", False),
        ],
    ),
    # `$match-case`
    (("/bannerad$match-case",), [("https://x.test/bannerad.gif", P, "image", True)]),
    (("/BannerAd$match-case",), [("https://x.test/bannerad.gif", P, "image", False)]),
    (
        ("||x.test/BannerAd$match-case",),
        [
            ("https://x.test/BannerAd.gif", P, "image", True),
            ("https://x.test/bannerad.gif", P, "image", False),
        ],
    ),
    (("/BannerAd",), [("https://x.test/bannerad.gif", P, "image", True)]),  # default: any case
    # anchors and the `^` separator, including the end of the URL
    (
        ("||ads.test^",),
        [
            ("https://ads.test", NO_PAGE, "other", True),
            ("https://ads.test:8080/", NO_PAGE, "other", True),
            ("https://ads.test?x=1", NO_PAGE, "other", True),
            ("https://sub.ads.test/", NO_PAGE, "other", True),
            ("https://ads.test.evil/", NO_PAGE, "other", False),
            ("https://ads.testx/", NO_PAGE, "other", False),
            ("https://notads.test/", NO_PAGE, "other", False),
            ("https://x.test/?r=https://ads.test/", NO_PAGE, "other", False),
        ],
    ),
    (
        ("/foo^",),
        [
            ("https://x.test/foo", NO_PAGE, "other", True),
            ("https://x.test/foo?a", NO_PAGE, "other", True),
            ("https://x.test/foo/", NO_PAGE, "other", True),
            ("https://x.test/foobar", NO_PAGE, "other", False),
            ("https://x.test/foo.js", NO_PAGE, "other", False),
            ("https://x.test/foo-", NO_PAGE, "other", False),
            ("https://x.test/foo_", NO_PAGE, "other", False),
            ("https://x.test/foo%", NO_PAGE, "other", False),
        ],
    ),
    (
        ("|https://x.test/a",),
        [
            ("https://x.test/a/b", NO_PAGE, "other", True),
            ("https://y.test/?u=https://x.test/a", NO_PAGE, "other", False),
        ],
    ),
    (
        (".gif|",),
        [
            ("https://q.test/a.gif", NO_PAGE, "other", True),
            ("https://q.test/a.gif?x", NO_PAGE, "other", False),
        ],
    ),
    (
        ("||q.test/a.js|",),
        [
            ("https://q.test/a.js", NO_PAGE, "other", True),
            ("https://q.test/a.js?v", NO_PAGE, "other", False),
        ],
    ),
    (
        ("/ad*banner",),
        [
            ("https://q.test/ad/x/banner", NO_PAGE, "other", True),
            ("https://q.test/banner/ad", NO_PAGE, "other", False),
        ],
    ),
    # regex filters, `$` inside the regex
    (
        ("/ads\\.js$/",),
        [
            ("https://x.test/ads.js", NO_PAGE, "script", True),
            ("https://x.test/ads.js?v", NO_PAGE, "script", False),
        ],
    ),
    (
        ("/^https:\\/\\/x\\.test\\/a$/$script",),
        [
            ("https://x.test/a", NO_PAGE, "script", True),
            ("https://x.test/a", NO_PAGE, "image", False),
        ],
    ),
    (("/banner\\d+/",), [("https://x.test/BANNER12.gif", NO_PAGE, "image", True)]),  # any case
    # `$redirect` still blocks (serving the resource is the proxy's business)
    (("||x.test/ads.js$script,redirect=noop.js",), [("https://x.test/ads.js", P, "script", True)]),
    # exceptions
    (
        ("||ads.test^", "@@||ads.test/ok/"),
        [("https://ads.test/ok/a", P, "other", False), ("https://ads.test/no/a", P, "other", True)],
    ),
    (
        ("||ads.test^", "@@||ads.test^$image"),
        [("https://ads.test/a", P, "script", True), ("https://ads.test/a", P, "image", False)],
    ),
    (
        ("||ads.test^", "@@||ads.test^$domain=site.example"),
        [
            ("https://ads.test/a", P, "other", False),
            ("https://ads.test/a", OTHER_PAGE, "other", True),
        ],
    ),
    # `$important` beats `@@`, whatever the order
    (("||ads.test^$important", "@@||ads.test^"), [("https://ads.test/x", P, "other", True)]),
    (("@@||ads.test^", "||ads.test^$important"), [("https://ads.test/x", P, "other", True)]),
    (
        ("||ads.test^$important,script", "@@||ads.test^"),
        [("https://ads.test/x", P, "image", False), ("https://ads.test/x", P, "script", True)],
    ),
    # `@@...$document` disables blocking on a page (not for requests to that host)
    (
        ("||ads.test^", "@@||site.example^$document"),
        [
            ("https://ads.test/x", P, "other", False),
            ("https://ads.test/x", OTHER_PAGE, "other", True),
        ],
    ),
    (("||ads.test^", "@@||ads.test^$document"), [("https://ads.test/x", P, "other", True)]),
    # `$badfilter` cancels exactly its twin (option order does not matter)
    (("||ads.test^", "||ads.test^$badfilter"), [("https://ads.test/x", P, "other", False)]),
    (
        ("||ads.test^$script,3p", "||ads.test^$3p,script,badfilter"),
        [("https://ads.test/x", P, "script", False)],
    ),
    (("||ads.test^$script", "||ads.test^$badfilter"), [("https://ads.test/x", P, "script", True)]),
    (("||ads.test^", "||ads.test^$script,badfilter"), [("https://ads.test/x", P, "script", True)]),
]

ABP_CASES = [
    pytest.param(filters, url, page, type, blocked, id=f"{' + '.join(filters)} {url} {page} {type}")
    for filters, rows in ABP_GROUPS
    for url, page, type, blocked in rows
]
ABP_CASES += [
    pytest.param(
        (line,),
        "https://x.test/BannerAd.gif",
        P,
        "image",
        True,
        id=f"{line} capitals",
    )
    for line in ("/BannerAd$match-case", "BannerAd$match-case")
]


@pytest.mark.parametrize(("filters", "url", "page", "type", "blocked"), ABP_CASES)
def test_abp_semantics(
    filters: list[str], url: str, page: str | None, type: str, blocked: bool
) -> None:
    decision = abp_engine(*filters).check(url, page, type)
    assert decision.blocked is blocked
    if blocked:
        assert decision.rule in filters
        assert decision.matched is not None and decision.matched.action is Action.BLOCK


def test_badfilter_works_across_lists() -> None:
    engine = engine_of(
        ("a.txt", "||ads.test^$script\n||b.test^\n"), ("b.txt", "||ads.test^$script,badfilter\n")
    )
    assert not engine.check("https://ads.test/a.js", PAGE, "script").blocked
    assert engine.check("https://b.test/x", PAGE).blocked
    assert engine.lists["a.txt"]["skipped"] == {"disabled-by-badfilter": 1}
    assert engine.lists["b.txt"]["skipped"] == {"badfilter": 1}
    assert (engine.lists["a.txt"]["rules"], engine.lists["b.txt"]["rules"]) == (1, 0)


def test_important_beats_exception_in_another_list() -> None:
    engine = engine_of(("a.txt", "||ads.test^$important\n"), ("b.txt", "@@||ads.test^\n"))
    decision = engine.check("https://ads.test/x", PAGE)
    assert decision.blocked
    assert (decision.rule, decision.list) == ("||ads.test^$important", "a.txt")
    assert decision.reason == "blocked by an $important rule"


def test_important_beats_tpl_allow_rule() -> None:
    engine = engine_of(("a.txt", "||ads.test^$important\n"), ("t.tpl", tpl("+d ads.test")))
    assert engine.check("https://ads.test/x", PAGE).blocked


def test_document_exception_is_reported_as_the_deciding_rule() -> None:
    engine = abp_engine("||ads.test^", "@@||site.example^$document")
    decision = engine.check("https://ads.test/x", "https://www.site.example/page")
    assert not decision.blocked
    assert decision.rule == "@@||site.example^$document"
    assert decision.overridden is not None and decision.overridden.source.text == "||ads.test^"


# --- check_request, types, odd input --------------------------------------------------------


def test_check_request_equals_check() -> None:
    engine = abp_engine("||ads.test^$script")
    request = Request("https://ads.test/a.js", PAGE, RequestType.SCRIPT)
    assert engine.check_request(request) == engine.check("https://ads.test/a.js", PAGE, "script")
    assert engine.check_request(request).blocked
    assert not engine.check_request(
        Request("https://ads.test/a.png", PAGE, RequestType.IMAGE)
    ).blocked


@pytest.mark.parametrize(
    ("type", "blocked"),
    [
        ("script", True),
        ("SCRIPT", True),
        (RequestType.SCRIPT, True),
        ("image", False),
        ("bogus", False),
    ],
)
def test_type_argument(type: str | RequestType, blocked: bool) -> None:
    assert (
        abp_engine("||ads.test^$script").check("https://ads.test/", PAGE, type).blocked is blocked
    )


def test_unknown_type_name_counts_as_other() -> None:
    assert abp_engine("||ads.test^$other").check("https://ads.test/", PAGE, "no-such-type").blocked


GARBAGE = [
    "",
    "garbage",
    "http://",
    "://x",
    "https://[::1",
    "https://a..b/",
    "http://\x00/",
    "https://" + "a." * 120 + "test/",  # long hosts: see test_matcher for the cost
    "https://" + "a" * 5000 + ".test/",
    "javascript:alert(1)",
    "data:text/html,<b>ads.test</b>",
    "https://ads.test:99999999/",
    "https://\ud800.test/",
    "https://ads.test/\udcff",
    "https://%zz/",
    "https://ads.test/" + "a/" * 20000,
]


@pytest.mark.parametrize("url", GARBAGE)
def test_garbage_urls_do_not_raise(url: str) -> None:
    engine = engine_of(
        ("a.txt", "||ads.test^\n/a/a/a/\n$removeparam=x\n/re[g]ex/\n"),
        ("t.tpl", tpl("- /ads", "-d ads")),
    )
    for page in (None, PAGE, url):
        assert isinstance(engine.check(url, page).blocked, bool)
        assert isinstance(engine.matching_rules(url, page), list)
        new_url, _ = engine.removeparam(url, page)
        assert isinstance(new_url, str)
    assert isinstance(engine.check_host(url).blocked, bool)


@pytest.mark.parametrize(
    "url",
    [
        "data:image/gif;base64,R0lGOD",
        "about:blank",
        "blob:https://x.test/1",  # the inner URL is not requested again
    ],
)
def test_urls_without_a_network_host_are_never_blocked(url: str) -> None:
    engine = engine_of(
        ("t.tpl", tpl("- gif", "- blank", "- https", "-d x.test")), ("a.txt", "||x.test^\n")
    )
    decision = engine.check(url, PAGE)
    assert not decision.blocked
    assert decision.matched is None


# --- check_host: CONNECT tunnels (§A.7 item 6) ----------------------------------------------

HOST_LISTS = [
    (
        "t.tpl",
        tpl(
            "-d hostonly.test",
            "-d pat.test /ads/",
            "+d ok.hostonly.test",
            "-d 203.0.113.7",
            "- /track",
        ),
    ),
    (
        "a.txt",
        "\n".join(
            [
                "||abp.test^",
                "||abp.test/path",
                "||dom.test^$domain=site.example",
                "||notdom.test^$domain=~site.example",
                "||typ.test^$script",
                "||notype.test^$~script",
                "||tp.test^$third-party",
                "||fp.test^$1p",
                "@@||ok.abp.test^",
                "||imp.test^$important",
                "@@||imp.test^",
                "/regex/",
                "||all.test^$all",
                "||pathonly.test/x",
                # §A.7 item 6, added: every-site exceptions naming the host with a path
                "||googleapis.test^",
                "@@||imasdk.googleapis.test/js/sdkloader/",
                "@@||fonts.googleapis.test/css$domain=site.example",
                "@@||maps.googleapis.test/x$third-party",
                "||guard.test^",
                "@@||guard.test/.well-known/check.js$script",
                "||impath.test^$important",
                "@@||impath.test/ok.js",
            ]
        ),
    ),
    ("h.hosts", "0.0.0.0 a.hosts b.hosts\n"),
]

HOSTS = [
    # host, blocked, deciding rule, list
    ("hostonly.test", True, "-d hostonly.test", "t.tpl"),
    ("sub.hostonly.test", True, "-d hostonly.test", "t.tpl"),
    ("HOSTONLY.TEST.", True, "-d hostonly.test", "t.tpl"),
    ("ok.hostonly.test", False, "+d ok.hostonly.test", "t.tpl"),  # TPL `+d` allows
    ("pat.test", False, None, None),  # pattern rules need the path
    ("203.0.113.7", True, "-d 203.0.113.7", "t.tpl"),
    ("abp.test", True, "||abp.test^", "a.txt"),
    ("ok.abp.test", False, "@@||ok.abp.test^", "a.txt"),  # `@@||host^` allows
    ("dom.test", False, None, None),  # `$domain` needs a page
    ("notdom.test", False, None, None),
    ("typ.test", False, None, None),  # type-restricted
    ("notype.test", False, None, None),
    ("tp.test", True, "||tp.test^$third-party", "a.txt"),  # a tunnel is third-party
    ("fp.test", False, None, None),
    ("imp.test", True, "||imp.test^$important", "a.txt"),
    ("regex.test", False, None, None),
    ("all.test", True, "||all.test^$all", "a.txt"),
    ("pathonly.test", False, None, None),
    ("a.hosts", True, "0.0.0.0 a.hosts b.hosts", "h.hosts"),
    ("b.hosts", True, "0.0.0.0 a.hosts b.hosts", "h.hosts"),
    ("x.b.hosts", True, "0.0.0.0 a.hosts b.hosts", "h.hosts"),
    ("nothing.test", False, None, None),
    ("imasdk.googleapis.test", False, "@@||imasdk.googleapis.test/js/sdkloader/", "a.txt"),
    ("guard.test", False, "@@||guard.test/.well-known/check.js$script", "a.txt"),
    ("x.imasdk.googleapis.test", True, "||googleapis.test^", "a.txt"),  # names another host
    ("fonts.googleapis.test", True, "||googleapis.test^", "a.txt"),  # site-specific
    ("maps.googleapis.test", True, "||googleapis.test^", "a.txt"),  # party option
    ("impath.test", True, "||impath.test^$important", "a.txt"),
]


@pytest.fixture(scope="module")
def host_engine() -> Engine:
    return engine_of(*HOST_LISTS)


@pytest.mark.parametrize(("host", "blocked", "rule", "list_id"), HOSTS)
def test_check_host(
    host_engine: Engine, host: str, blocked: bool, rule: str | None, list_id: str | None
) -> None:
    decision = host_engine.check_host(host)
    assert (decision.blocked, decision.rule, decision.list) == (blocked, rule, list_id)


def test_check_host_allow_names_the_overridden_block(host_engine: Engine) -> None:
    decision = host_engine.check_host("ok.hostonly.test")
    assert decision.overridden is not None
    assert decision.overridden.source.text == "-d hostonly.test"


# --- Decision, matching_rules, removeparam --------------------------------------------------


def test_decision_to_json_block() -> None:
    decision = engine_of(("l.txt", "! c\n||ads.test^$script\n")).check(
        "https://ads.test/a.js", PAGE, "script"
    )
    assert decision.to_json() == {
        "blocked": True,
        "rule": "||ads.test^$script",
        "list": "l.txt",
        "line": 2,
        "action": "block",
        "overridden": None,
        "reason": "third-party request matched a block rule",
    }


def test_decision_to_json_allow_with_override() -> None:
    engine = engine_of(("a.txt", "||ads.test^\n"), ("b.tpl", tpl("# c", "+d ads.test")))
    assert engine.check("https://ads.test/", PAGE).to_json() == {
        "blocked": False,
        "rule": "+d ads.test",
        "list": "b.tpl",
        "line": 3,
        "action": "allow",
        "overridden": {"rule": "||ads.test^", "list": "a.txt", "line": 1},
        "reason": "an allow rule overrides the block rule",
    }


def test_decision_to_json_no_rule() -> None:
    data = abp_engine("||ads.test^").check("https://fine.test/", PAGE).to_json()
    assert data == {
        "blocked": False,
        "rule": None,
        "list": None,
        "line": None,
        "action": None,
        "overridden": None,
        "reason": "no rule matched",
    }


def test_first_party_block_reason() -> None:
    decision = abp_engine("||ads.test^").check("https://ads.test/", "https://ads.test/")
    assert decision.blocked
    assert decision.reason == "first-party request matched a block rule"


def texts(rules: list[Rule] | tuple[Rule, ...]) -> list[str]:
    return [r.source.text for r in rules]


def test_matching_rules_lists_blocks_exceptions_and_removeparam() -> None:
    engine = abp_engine(
        "||ads.test^",
        "/ok/",
        "@@||ads.test/ok/",
        "||ads.test^$removeparam=x",
        "||ads.test^$image",
        "||other.test^",
        "@@||other.test^",
    )
    rules = engine.matching_rules("https://ads.test/ok/?x=1", PAGE, "script")
    assert sorted(texts(rules)) == sorted(
        ["||ads.test^", "/ok/", "@@||ads.test/ok/", "||ads.test^$removeparam=x"]
    )
    assert len(rules) == 4  # each rule once
    assert engine.matching_rules("https://fine.test/", PAGE) == []


def test_matching_rules_respects_context() -> None:
    engine = abp_engine("||ads.test^$third-party", "||ads.test^$domain=site.example")
    assert sorted(texts(engine.matching_rules("https://ads.test/", PAGE))) == [
        "||ads.test^$domain=site.example",
        "||ads.test^$third-party",
    ]
    assert texts(engine.matching_rules("https://ads.test/", "https://ads.test/")) == []
    assert texts(engine.matching_rules("https://ads.test/", None)) == ["||ads.test^$third-party"]


def test_matching_rules_agree_with_check() -> None:
    filters = [
        "||a.test^",
        "/b/",
        "-c-",
        "/d\\d/",
        "||e.test/x^",
        "@@||a.test/ok/",
        "f$domain=site.example",
    ]
    urls = [
        "https://a.test/",
        "https://a.test/ok/",
        "https://z.test/b/",
        "https://z.test/-c-",
        "https://z.test/d7",
    ]
    urls += ["https://e.test/x?", "https://z.test/f", "https://z.test/nothing"]
    engine = abp_engine(*filters)
    for url in urls:
        rules = engine.matching_rules(url, PAGE)
        blocks = [r for r in rules if r.action is Action.BLOCK]
        exceptions = [r for r in rules if r.action is Action.ALLOW]
        decision = engine.check(url, PAGE)
        assert decision.blocked is bool(blocks and not exceptions), url
        if decision.matched is not None:
            assert decision.matched in rules


REMOVEPARAM = [
    # URL, result, rule lines used
    ("https://a.test/p?utm_source=1&b=2#frag", "https://a.test/p?b=2#frag", [2]),
    ("https://a.test/p?b=2&utm_source=1", "https://a.test/p?b=2", [2]),
    ("https://a.test/p?utm_source=1", "https://a.test/p", [2]),
    ("https://a.test/p?utm_source=1&utm_source=2", "https://a.test/p", [2]),
    ("https://a.test/p?UTM_SOURCE=1", "https://a.test/p?UTM_SOURCE=1", []),  # names are exact
    ("https://a.test/p?b=2", "https://a.test/p?b=2", []),
    ("https://a.test/p", "https://a.test/p", []),
    # regex
    ("https://x.test/p?fbclid=9&a=1", "https://x.test/p?a=1", [1]),
    ("https://x.test/p?xfbclid=9&a=1", "https://x.test/p?xfbclid=9&a=1", []),
    ("https://x.test/p?fbclid=9&utm_source=z&a=1", "https://x.test/p?a=1", [1, 2]),
    # bare: every parameter
    ("https://bare.test/?a=1&b=2", "https://bare.test/", [3]),
    # `~name`: every parameter but that one
    ("https://neg.test/?keep=1&drop=2", "https://neg.test/?keep=1", [4]),
    # context: `$domain=` of the page
    ("https://d.test/?sid=1", "https://d.test/", [5]),
    ("https://r.test/?ref=12&a=1", "https://r.test/?a=1", [6]),
    ("https://r.test/?ref=12x&a=1", "https://r.test/?ref=12x&a=1", []),
]
REMOVEPARAM_LIST = [
    "||x.test^$removeparam=/^fbclid=/",
    "$removeparam=utm_source",
    "||bare.test^$removeparam",
    "||neg.test^$removeparam=~keep",
    "||d.test^$removeparam=sid,domain=site.example",
    "||r.test^$removeparam=/^ref=[0-9]+$/",  # `$` inside the value is not the separator
]


@pytest.mark.parametrize(("url", "result", "lines"), REMOVEPARAM)
def test_removeparam(url: str, result: str, lines: list[int]) -> None:
    engine = abp_engine(*REMOVEPARAM_LIST)
    new_url, rules = engine.removeparam(url, PAGE)
    assert new_url == result
    assert sorted(r.source.line for r in rules) == lines


def test_removeparam_never_blocks() -> None:
    engine = abp_engine(*REMOVEPARAM_LIST)
    decision = engine.check("https://a.test/p?utm_source=1", PAGE)
    assert not decision.blocked
    assert decision.matched is None


def test_removeparam_respects_page_domain() -> None:
    engine = abp_engine(*REMOVEPARAM_LIST)
    assert engine.removeparam("https://d.test/?sid=1", "https://o.example/") == (
        "https://d.test/?sid=1",
        (),
    )


@pytest.mark.parametrize(
    ("url", "result"),
    [
        ("https://a.test/p?q=a%20b&utm_source=1", "https://a.test/p?q=a%20b"),
        ("https://a.test/p?flag&utm_source=1", "https://a.test/p?flag"),
        ("https://a.test/p?x=%2f&utm_source=1", "https://a.test/p?x=%2f"),
        ("https://a.test/p?a=b%3Dc&utm_source=1#f", "https://a.test/p?a=b%3Dc#f"),
    ],
)
def test_removeparam_keeps_other_parameters_verbatim(url: str, result: str) -> None:
    assert abp_engine("$removeparam=utm_source").removeparam(url)[0] == result


# --- building: from_files, diagnostics, summary ---------------------------------------------


def test_from_files_names_lists_by_file_name(tmp_path: Path) -> None:
    a = tmp_path / "mine.tpl"
    b = tmp_path / "easy.txt"
    a.write_text(tpl("-d tracker.example"), encoding="utf-8")
    b.write_bytes("\ufeff! Title: E\n||ads.test^\n".encode())
    engine = Engine.from_files([a, str(b)])
    assert engine.check("https://tracker.example/", PAGE).list == "mine.tpl"
    assert engine.check("https://ads.test/", PAGE).list == "easy.txt"
    assert engine.lists["easy.txt"]["format"] == "abp"
    assert engine.lists["mine.tpl"]["format"] == "tpl"
    assert engine.lists["easy.txt"]["metadata"]["title"] == "E"


def test_from_files_rejects_non_utf8(tmp_path: Path) -> None:
    from trackguard.model import ListRejected

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"||ads.test^\n\xff\xfe\n")
    with pytest.raises(ListRejected, match="not UTF-8"):
        Engine.from_files([bad])


def test_rejected_list_raises() -> None:
    from trackguard.model import ListRejected

    with pytest.raises(ListRejected):
        Engine.from_text("msFilterList\n# nothing\n")


def test_diagnostics_and_summary() -> None:
    engine = engine_of(
        ("a.txt", "||ads.test^\nx$nope\n##.ad\n||b.test^$csp=default-src\n"),
        ("t.tpl", tpl("-d ok.example", "-d bad/x")),
    )
    assert [(d.list_id, d.line, d.code) for d in engine.diagnostics] == [
        ("a.txt", 2, "abp.unknown-option"),
        ("a.txt", 4, "abp.not-applied.csp"),
        ("t.tpl", 3, "tpl.bad-domain"),
    ]
    summary = engine.summary()
    assert summary["rules"] == len(engine) == 2
    assert summary["lists"]["a.txt"]["rules"] == 1
    assert summary["lists"]["a.txt"]["errors"] == 1
    assert summary["lists"]["a.txt"]["skipped"] == {"cosmetic": 1, "csp": 1}
    assert summary["lists"]["t.tpl"]["errors"] == 1


def test_regex_rejected_by_re2_is_reported() -> None:
    engine = abp_engine("||ok.test^", "/(a)\\1/")  # backreference: not linear-time
    assert [d.code for d in engine.diagnostics] == ["engine.bad-regex"]
    assert engine.lists["a.txt"]["skipped"] == {"bad-regex": 1}
    assert not engine.check("https://x.test/aa", PAGE).blocked


def test_cache_key_depends_on_text_id_and_format() -> None:
    base = engine_of(("a.txt", "||ads.test^\n")).cache_key
    assert engine_of(("a.txt", "||ads.test^\n")).cache_key == base
    assert engine_of(("b.txt", "||ads.test^\n")).cache_key != base
    assert engine_of(("a.txt", "||ads2.test^\n")).cache_key != base
    as_abp = Engine.from_sources([ListSource("a.txt", "ads.test\n", Format.ABP)]).cache_key
    as_hosts = Engine.from_sources([ListSource("a.txt", "ads.test\n", Format.HOSTS)]).cache_key
    assert as_abp != as_hosts
    assert len(base) == 64 and int(base, 16) >= 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.test/p?fbclid=2&utm_source=1", "https://a.test/p"),
        # `@@||keep.test^$removeparam`: nothing is stripped there
        ("https://keep.test/p?fbclid=2&utm_source=1", "https://keep.test/p?fbclid=2&utm_source=1"),
        # `@@||some.test^$removeparam=fbclid`: only that parameter is kept
        ("https://some.test/p?fbclid=2&utm_source=1", "https://some.test/p?fbclid=2"),
    ],
)
def test_removeparam_exceptions_keep_parameters(url: str, expected: str) -> None:
    engine = Engine.from_text(
        "$removeparam=utm_source\n$removeparam=fbclid\n"
        "@@||keep.test^$removeparam\n@@||some.test^$removeparam=fbclid\n",
        "abp",
    )
    assert engine.removeparam(url, "https://a.test/", "xmlhttprequest")[0] == expected


def test_disabled_rules_are_not_applied_and_change_the_cache_key() -> None:
    text = "msFilterList\n-d tracker.example\n-d ads.example\n"
    on = Engine.from_text(text, "tpl")
    off = Engine.from_sources(
        [ListSource("<text>", text, Format.TPL)], disabled_rules=["-d tracker.example"]
    )
    page = "https://site.example/"
    assert on.check("https://tracker.example/p.gif", page, "image").blocked
    assert not off.check("https://tracker.example/p.gif", page, "image").blocked
    assert off.check("https://ads.example/a.js", page, "script").blocked
    assert off.lists["<text>"]["skipped"]["disabled-by-user"] == 1
    assert on.cache_key != off.cache_key


def test_check_many_equals_check_one_by_one() -> None:
    engine = Engine.from_text("||ads.test^$third-party\n@@||ads.test/ok^\n/pixel.gif\n")
    questions: list[tuple[str, str | None, str | RequestType]] = [
        ("https://ads.test/x.js", "https://news.example/", "script"),
        ("https://ads.test/x.js", "https://ads.test/", RequestType.SCRIPT),
        ("https://ads.test/ok/1", "https://news.example/", "image"),
        ("http://cdn.test/pixel.gif", None, "image"),
        ("https://news.example/", None, "document"),
    ]
    many = engine.check_many(questions)
    assert many == [engine.check(*q) for q in questions]
    assert [d.blocked for d in many] == [True, False, False, True, False]
    assert engine.check_many([]) == []
