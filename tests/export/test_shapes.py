"""Rule shapes the exporters share: `$badfilter`, host-only rules, TPL domain + pattern."""

from __future__ import annotations

import pytest

from trackguard.export.shapes import badfilter_key, prepare, suffix_host, tpl_pattern_follows_host
from trackguard.lists import parse_list


def test_badfilter_cancels_its_twin_in_any_order_of_options() -> None:
    rules = parse_list("||a.example^$script,third-party\n||b.example^\n", "a.txt").rules
    bad = parse_list("||a.example^$third-party,script,badfilter\n", "b.txt").rules
    keep, gone = prepare([*rules, *bad])
    assert [r.source.text for r in keep] == ["||b.example^"]
    assert sorted(o.reason for o in gone) == ["badfilter", "disabled-by-badfilter"]
    assert badfilter_key("x$b,a,badfilter") == badfilter_key("x$a,b")


def test_user_switched_off_rules_are_reported() -> None:
    rules = parse_list("||a.example^\n||b.example^\n", "a.txt").rules
    keep, gone = prepare(rules, frozenset({"||a.example^"}))
    assert [r.source.text for r in keep] == ["||b.example^"]
    assert [o.reason for o in gone] == ["disabled-by-user"]


@pytest.mark.parametrize(
    ("line", "host"),
    [
        ("||a.example^", "a.example"),
        ("||A.Example^", "a.example"),
        ("||a.example", None),
        ("||a.example^/x", None),
        ("||a.*.example^", None),
        ("|a.example^", None),
        ("/x/^", None),
    ],
)
def test_suffix_host(line: str, host: str | None) -> None:
    (rule,) = parse_list(line + "\n", "a.txt").rules
    assert suffix_host(rule) == host


def test_suffix_host_of_tpl_and_hosts() -> None:
    (allow,) = parse_list("msFilterList\n+d ok.example\n", "a.tpl").rules
    (block,) = parse_list("msFilterList\n-d t.example\n", "a.tpl").rules
    (entry,) = parse_list("0.0.0.0 h.example\n", "h", "hosts").rules
    assert (suffix_host(allow), suffix_host(block), suffix_host(entry)) == (
        "ok.example",
        None,
        "h.example",
    )


@pytest.mark.parametrize(
    ("host", "pattern", "follows"),
    [
        ("ads.example", "/banner/", True),
        ("ads.example", "/x?y", True),
        ("ads.example", "banner", False),  # may occur inside the host
        ("ads.example", "//x", False),  # may start in `://`
        ("ads.example", "/ads.example/x", False),  # `://ads.example/x` runs through the host
        ("ads.example", "/a.ads.example.net/x", False),
        ("ads.example", "/other.example/x", True),  # that host lacks the domain's labels
        ("ads.example", "/&x", True),  # a host is never followed by `&`
        ("ads.example", "/abc", False),  # all host characters: could be the host's start
        ("ads.example", "/", True),
        ("ads.example", "http://ads.example/x", False),
    ],
)
def test_tpl_pattern_follows_host(host: str, pattern: str, follows: bool) -> None:
    assert tpl_pattern_follows_host(host, pattern) is follows
