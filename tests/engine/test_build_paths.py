"""The engine's two ways in build the same thing.

`Engine.from_sources` parses Adblock Plus lists with `scan_abp`, which sets the plain
`||host^` filters aside for the builder instead of making a `Rule` each; `from_parsed`
gets every rule as a `Rule`. Both must give the same index, the same rule table (ids,
lists, lines, texts), the same counts and diagnostics, and so the same decisions and
explanations, whatever the lists hold: a host listed twice, a host with both a plain
filter and one with options (before and after it), `$badfilter` from a later list,
rules the user switched off, other formats between ABP lists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.engine import Engine
from trackguard.lists import parse_list
from trackguard.lists.abp import parse_abp, scan_abp
from trackguard.model import Format, ListRejected, ListSource

FIRST = """[Adblock Plus 2.0]
! Title: first
||ads.example^
||tracker.example^$script
||tracker.example^
||ads.example^
||Mixed.Case.Example^
||cdn.example^$image
||cdn.example^
||cdn.example^$third-party
||bücher.example^
||sub.ads.example^
||a..b.example^
||.dot.example^
||end.example^|
||path.example^/x
||noop.example^$_
@@||ads.example^$image
||cancelled.example^
||off.example^
example.com##.banner
/banner/*
"""
HOSTS = "0.0.0.0 hosts.example\n0.0.0.0 ads.example cdn.example\n"
TPL = "msFilterList\n-d tpl.example\n+d ok.tpl.example\n"
SECOND = """||second.example^
||ads.example^
||tracker.example^$xhr
||cancelled.example^$badfilter
||second.example^$badfilter,script
"""
SOURCES = [
    ListSource("first.txt", FIRST, Format.ABP),
    ListSource("h.hosts", HOSTS, Format.HOSTS),
    ListSource("t.tpl", TPL, Format.TPL),
    ListSource("second.txt", SECOND, Format.ABP),
]
URLS = [
    ("https://ads.example/a.js", "https://site.example/", "script"),
    ("https://sub.ads.example/i.png", "https://site.example/", "image"),
    ("https://tracker.example/t.js", "https://site.example/", "script"),
    ("https://tracker.example/t", "https://site.example/", "xmlhttprequest"),
    ("https://cdn.example/i.png", "https://cdn.example/", "image"),
    ("https://mixed.case.example/", None, "other"),
    ("https://xn--bcher-kva.example/", None, "other"),
    ("https://cancelled.example/", None, "other"),
    ("https://off.example/", None, "other"),
    ("https://second.example/s.js", None, "script"),
    ("https://hosts.example/", None, "other"),
    ("https://www.tpl.example/", None, "other"),
    ("https://ok.tpl.example/", None, "other"),
    ("https://noop.example/", None, "other"),
    ("https://site.example/banner/1.gif", None, "image"),
]


def _both(sources: list[ListSource], disabled: frozenset[str] = frozenset()) -> list[Engine]:
    scanned = Engine.from_sources(sources, disabled_rules=disabled)
    parsed = [parse_list(s.text, s.list_id, s.format) for s in sources]
    return [scanned, Engine.from_parsed(parsed, disabled_rules=disabled)]


def _assert_same(scanned: Engine, parsed: Engine) -> None:
    assert scanned._indexes == parsed._indexes
    assert scanned._rules.pack() == parsed._rules.pack()
    assert scanned.lists == parsed.lists
    assert scanned.diagnostics == parsed.diagnostics


@pytest.mark.parametrize("disabled", [frozenset(), frozenset({"||off.example^", "/banner/*"})])
def test_scanned_and_parsed_lists_build_the_same_engine(disabled: frozenset[str]) -> None:
    scanned, parsed = _both(SOURCES, disabled)
    _assert_same(scanned, parsed)
    for url, page, type_name in URLS:
        assert scanned.check(url, page, type_name) == parsed.check(url, page, type_name), url
        assert scanned.matching_rules(url, page, type_name) == parsed.matching_rules(
            url, page, type_name
        )


def test_badfilter_and_disabled_plain_filters_are_counted_as_dropped() -> None:
    scanned, _ = _both(SOURCES, frozenset({"||off.example^"}))
    skipped = scanned.lists["first.txt"]["skipped"]
    assert skipped["disabled-by-badfilter"] == 1
    assert skipped["disabled-by-user"] == 1
    assert not scanned.check("https://cancelled.example/").blocked
    assert not scanned.check("https://off.example/").blocked
    decision = scanned.check("https://ads.example/x.js", "https://site.example/", "script")
    assert (decision.list, decision.line, decision.rule) == ("first.txt", 3, "||ads.example^")
    assert decision.matched == parse_abp(FIRST, "first.txt").rules[0]


def test_scan_sets_aside_exactly_the_plain_host_filters() -> None:
    parsed, plain = scan_abp(FIRST, "first.txt")
    full = parse_abp(FIRST, "first.txt")
    assert plain.hosts == [
        "ads.example",
        "tracker.example",
        "ads.example",
        "mixed.case.example",
        "cdn.example",
        "sub.ads.example",
        "a..b.example",
        "cancelled.example",
        "off.example",
    ]
    assert plain.texts == [
        f"||{h}^" if h != "mixed.case.example" else "||Mixed.Case.Example^" for h in plain.hosts
    ]
    set_aside = {r.source.line for r in full.rules} - {r.source.line for r in parsed.rules}
    assert sorted(set_aside) == plain.lines
    assert (parsed.skipped, parsed.diagnostics) == (full.skipped, full.diagnostics)


def test_a_list_of_plain_filters_only_is_not_empty() -> None:
    parsed, plain = scan_abp("||only.example^\n", "only.txt")
    assert parsed.rules == () and plain.lines == [1]
    assert (
        Engine.from_sources([ListSource("only.txt", "||only.example^\n")])
        .check("https://only.example/")
        .blocked
    )


_HOSTS = ("a.example", "b.example", "sub.a.example", "A.Example", "x-y_z.example", "a..b", ".a")
_FORMS = (
    "||{h}^",
    "||{h}^",
    "||{h}^$script",
    "||{h}^$third-party,image",
    "@@||{h}^",
    "@@||{h}^$image",
    "||{h}^$badfilter",
    "||{h}^|",
    "||{h}^/path",
    "||{h}^$_",
    "  ||{h}^  ",
    "{h}##.ad",
    "! ||{h}^",
    "/{h}/",
    "",
)
_LINE = st.builds(str.format, st.sampled_from(_FORMS), h=st.sampled_from(_HOSTS))
_LIST = st.lists(_LINE, max_size=25).map("\n".join)


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(_LIST, min_size=1, max_size=3),
    hosts_between=st.booleans(),
    disabled=st.sets(_LINE, max_size=3),
)
def test_any_abp_lists_build_the_same_both_ways(
    texts: list[str], hosts_between: bool, disabled: set[str]
) -> None:
    """Random lists of plain filters, twins with options, duplicates, `$badfilter`s..."""
    sources = [ListSource(f"l{i}.txt", "[Adblock Plus 2.0]\n" + t) for i, t in enumerate(texts)]
    if hosts_between:
        sources.insert(1, ListSource("h.hosts", HOSTS, Format.HOSTS))
    off = frozenset(line.strip() for line in disabled)
    try:
        parsed = [parse_list(s.text, s.list_id, s.format) for s in sources]
    except ListRejected as exc:  # a list with no filter: rejected both ways, alike
        with pytest.raises(ListRejected, match=re.escape(str(exc))):
            Engine.from_sources(sources, disabled_rules=off)
        return
    scanned = Engine.from_sources(sources, disabled_rules=off)
    _assert_same(scanned, Engine.from_parsed(parsed, disabled_rules=off))


@pytest.mark.slow
def test_easylist_and_easyprivacy_build_the_same_both_ways(corpus_dir: Path) -> None:
    lists = corpus_dir / "lists"
    sources = [
        ListSource(name, (lists / name).read_text(encoding="utf-8"))
        for name in ("easylist.txt", "easyprivacy.txt", "peter-lowe-serverlist.txt")
    ]
    _assert_same(*_both(sources))
