"""The matcher's lookup paths (`trackguard.engine.matcher`) and their bounds.

The matcher finds candidates by request host (parent domains, TPL label runs, exact IPs),
by URL token (small buckets checked one by one, crowded buckets screened by one RE2 set),
by the page's `$domain=` entries, and from a screened left-over set. Whatever path a filter
lands on, the answer must be the one the filter gives on its own: that is the property
tested here, plus the helpers' contracts and the cost of hostile input.
"""

from __future__ import annotations

import pytest

from trackguard.engine import Engine
from trackguard.engine.category import SCREEN_AT as _SCREEN_AT
from trackguard.engine.request import label_runs as _label_runs
from trackguard.engine.request import page_keys as _page_keys
from trackguard.model import ListSource
from work_budget import peak_bytes, python_steps

PAGE = "https://site.example/"

# One filter per lookup path (comments name the path), plus a crowded token bucket.
ABP_FILTERS = [
    "||host.test^",  # host suffix
    "||deep.host2.test/path/*.js",  # host suffix with a tail
    "||203.0.113.9^",  # host suffix, IP
    "/tokenized/banner_",  # token
    "-adx-$image",  # token, typed
    "*odd*",  # left-over, screened by its literal
    "*q*",  # left-over, checked directly (literal too short to screen)
    "/re+gex\\d/",  # left-over regex, screened by the RE2 set
    "$script,domain=page-only.example",  # page index (no pattern)
    "/widget^$domain=google.*",  # token + entity
    "@@||host.test/ok/",  # exception by host
    "@@/tokenized/banner_ok",  # exception by token
    *[f"/crowd?{i}" for i in range(_SCREEN_AT + 4)],  # one crowded token: `crowd`
    *[f"/many{i}^$third-party" for i in range(3)],
]
TPL_LINES = [
    "-d labels",
    "-d two.labels.test",
    "-d 198.51.100.1",
    "+d ok.labels.test",
    "- /tpl-path",
]

URLS = [
    "https://host.test/a",
    "https://sub.host.test/a",
    "https://host.test/ok/a",
    "https://nothost.test/a",
    "https://deep.host2.test/path/x/y.js",
    "https://deep.host2.test/other/y.js",
    "http://203.0.113.9/x",
    "https://x.test/tokenized/banner_1",
    "https://x.test/tokenized/banner_ok",
    "https://x.test/a-adx-b",
    "https://x.test/oddity",
    "https://x.test/?q=1",
    "https://x.test/reegex7",
    "https://x.test/regex",
    "https://x.test/widget/",
    "https://x.test/crowd?3",
    "https://x.test/crowd?11",
    "https://x.test/crowd",
    "https://x.test/many2/",
    "https://labels.test/",
    "https://a.labels.b/",
    "https://ok.labels.test/",
    "https://x.two.labels.test.y/",
    "http://198.51.100.1/",
    "https://x.test/tpl-path",
    "https://nothing.test/",
]
PAGES = [PAGE, "https://page-only.example/", "https://www.google.de/", "https://x.test/", None]
TYPES = ["script", "image", "other"]


def _lists() -> list[ListSource]:
    return [
        ListSource("a.txt", "\n".join(ABP_FILTERS) + "\n"),
        ListSource("t.tpl", "msFilterList\n" + "\n".join(TPL_LINES) + "\n"),
    ]


@pytest.fixture(scope="module")
def combined() -> Engine:
    return Engine.from_sources(_lists())


@pytest.fixture(scope="module")
def alone() -> dict[str, Engine]:
    """Each filter in an engine of its own: the reference answer for that filter."""
    out = {f: Engine.from_text(f + "\n", "abp") for f in ABP_FILTERS}
    out.update({t: Engine.from_text(f"msFilterList\n{t}\n", "tpl") for t in TPL_LINES})
    return out


def test_every_lookup_path_agrees_with_the_filter_alone(
    combined: Engine, alone: dict[str, Engine]
) -> None:
    checked = 0
    for url in URLS:
        for page in PAGES:
            for type in TYPES:
                expected = sorted(
                    text for text, engine in alone.items() if engine.matching_rules(url, page, type)
                )
                got = sorted(r.source.text for r in combined.matching_rules(url, page, type))
                assert got == expected, (url, page, type)
                checked += bool(expected)
    assert checked > 100  # most combinations hit at least one filter


def test_check_agrees_with_matching_rules(combined: Engine) -> None:
    for url in URLS:
        for page in PAGES:
            for type in TYPES:
                rules = combined.matching_rules(url, page, type)
                blocks = [r for r in rules if not r.is_exception]
                exceptions = [r for r in rules if r.is_exception]
                decision = combined.check(url, page, type)
                assert decision.blocked is bool(blocks and not exceptions), (url, page, type)
                if decision.blocked:
                    assert decision.matched in blocks
                elif blocks:
                    assert decision.matched in exceptions
                    assert decision.overridden in blocks


def test_lookup_paths_are_really_used(combined: Engine) -> None:
    """Precondition for the tests above: the filters landed on the paths they name."""
    block = combined._indexes["block"]
    assert len(block["token"][b"crowd"]) >= _SCREEN_AT  # screened by one RE2 set
    assert {"host.test", "deep.host2.test", "203.0.113.9"} <= set(block["suffix"])
    assert {"labels", "two.labels.test"} <= set(block["labels"])
    assert "198.51.100.1" in block["exact"]
    assert "page-only.example" in block["page"]
    assert len(block["fallback"]) >= 3


@pytest.mark.parametrize(
    ("url", "matching"),
    [
        ("https://x.test/crowd?3", {"/crowd?3"}),
        ("https://x.test/crowd?11", {"/crowd?1", "/crowd?11"}),  # `?1` is a prefix of `?11`
        ("https://x.test/crowd?", set()),
    ],
)
def test_crowded_token_bucket_names_the_right_filter(
    combined: Engine, url: str, matching: set[str]
) -> None:
    decision = combined.check(url, PAGE)
    assert {r.source.text for r in combined.matching_rules(url, PAGE)} == matching
    if matching:
        assert decision.rule in matching
    else:
        assert decision.rule is None


def test_host_memo_is_bounded_and_stays_correct(combined: Engine) -> None:
    for i in range(9000):  # more hosts than the per-category memo keeps
        combined.check(f"https://h{i}.host.test/", PAGE)
    assert combined.check("https://host.test/a", PAGE).rule == "||host.test^"
    assert not combined.check("https://nothing.test/", PAGE).blocked


def test_document_exception_memo_is_bounded_and_stays_correct() -> None:
    engine = Engine.from_text("||ads.test^\n@@||site.example^$document\n", "abp")
    for i in range(5000):
        assert engine.check("https://ads.test/", f"https://p{i}.example/").blocked
    assert not engine.check("https://ads.test/", PAGE).blocked


# --- helpers --------------------------------------------------------------------------------

LABEL_RUNS = [
    # host, longest indexed TPL domain (labels), runs
    ("a.b.c", 3, {"a", "a.b", "a.b.c", "b", "b.c", "c"}),
    ("a.b.c", 9, {"a", "a.b", "a.b.c", "b", "b.c", "c"}),
    ("a.b.c", 2, {"a", "a.b", "b", "b.c", "c"}),  # runs longer than any key are useless
    ("a.b.c", 1, {"a", "b", "c"}),
    ("localhost", 2, {"localhost"}),
]


@pytest.mark.parametrize(("host", "longest", "runs"), LABEL_RUNS)
def test_label_runs(host: str, longest: int, runs: set[str]) -> None:
    assert set(_label_runs(host, longest)) == runs
    assert len(_label_runs(host, longest)) == len(runs)


PAGE_KEYS = [
    (
        "www.google.co.uk",
        ("www.google.co.uk", "www.google.*", "google.co.uk", "google.*", "co.uk", "uk"),
    ),
    ("google.de", ("google.de", "google.*", "de")),
    ("alice.github.io", ("alice.github.io", "alice.*", "github.io", "io")),  # private section
    ("localhost", ("localhost",)),
    ("", ()),
]


@pytest.mark.parametrize(("host", "keys"), PAGE_KEYS)
def test_page_keys_most_specific_first(host: str, keys: tuple[str, ...]) -> None:
    assert _page_keys(host) == keys


# --- hostile input --------------------------------------------------------------------------


def test_long_hosts_cost_little() -> None:
    """B5 (reports/vector-failures.md): label runs were built for every length, n^2 strings
    of length up to n; a 600-label host took ~1 s and ~100 MB. Work-bounded (no clock):
    four times the labels may cost at most about four times the steps."""
    engine = Engine.from_text("msFilterList\n-d ads\n-d a.b.c.d.e\n", "tpl")
    host = "a." * 120 + "ads.test"  # 248 characters: still a possible DNS name
    for _ in range(20):
        assert engine.check(f"https://{host}/", PAGE).rule == "-d ads"
        assert engine.check_host(host).rule == "-d ads"

    def cost(labels: int, first: str) -> int:
        # A host not seen before, so no memo answers for it.
        other = first + "." + "a." * labels + "ads.test"
        return python_steps(lambda: engine.check(f"https://{other}/", PAGE)) + python_steps(
            lambda: engine.check_host(other)
        )

    small, large = cost(30, "s"), cost(120, "l")
    assert large <= 6 * small, (small, large)


@pytest.mark.parametrize("labels", [127, 600, 4000])
def test_hosts_longer_than_a_dns_name_have_nothing_to_judge(labels: int) -> None:
    engine = Engine.from_text("msFilterList\n-d ads\n- /x\n", "tpl")
    ordinary = python_steps(lambda: engine.check("https://ordinary.ads.test/x", PAGE))
    host = "a." * labels + "ads.test"

    def judge() -> None:
        decision = engine.check(f"https://{host}/x", PAGE)
        assert (decision.blocked, decision.matched) == (False, None)
        assert not engine.check_host(host).blocked

    assert python_steps(judge) <= ordinary  # refused before any per-label work
    assert peak_bytes(judge) < 64 * len(host) + 65536


def test_long_paths_cost_little() -> None:
    """A hostile URL repeating the same tokens thousands of times: its bucket lookups
    must not repeat with it (at most twice the steps of a URL 100 times shorter)."""
    engine = Engine.from_sources(_lists())

    def cost(repeats: int, host: str) -> int:
        url = f"https://{host}/" + "crowd?/odd-adx-" * repeats
        # Padding must not buy a pass either: were the repeats charged to the request's
        # budget one by one, it would run out before `*odd*` is reached (fail open).
        decision = engine.check(url, PAGE)
        assert (decision.blocked, decision.rule) == (True, "*odd*"), decision.reason
        return python_steps(lambda: engine.check(url, PAGE))

    short, long = cost(40, "x1.test"), cost(4000, "x2.test")
    assert long <= 2 * short, (short, long)


def test_a_rule_blocks_with_one_shared_verdict_per_party() -> None:
    """ "Blocked by rule N" is made once per rule and party and handed out again (it is
    immutable): the same rule from a first- and a third-party page says which it was."""
    engine = Engine.from_sources([ListSource("l", "||tracker.example^\n")])
    third = engine.check("https://tracker.example/a.js", "https://news.example/", "script")
    again = engine.check("https://tracker.example/b.gif", "https://blog.example/", "image")
    first = engine.check("https://tracker.example/c.js", "https://www.tracker.example/", "script")
    assert third is again and third.blocked and third.rule == "||tracker.example^"
    assert third.reason == "third-party request matched a block rule"
    assert first is not third and first.rule == third.rule
    assert first.reason == "first-party request matched a block rule"
