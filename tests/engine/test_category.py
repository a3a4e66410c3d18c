"""One category's index prepared for lookups (engine/category.py).

The prepared forms (paired or screened token buckets, left-overs split by request type)
live beside the index: the index, which is what the cache file holds, never changes.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.engine.buckets import GATE_MAX_KEYS, other_tokens, token_gate
from trackguard.engine.category import PAGE_CACHE_SIZE, SCREEN_AT, Category, all_filters
from trackguard.engine.compiler import (
    FLAG_HOST,
    FLAG_LEFT,
    FLAG_RIGHT,
    KIND_GENERIC,
    build_index,
    safe_tokens,
)
from trackguard.engine.hosts import PAGE_SORT_MAX, TAIL_GROUP_AT
from trackguard.engine.request import DEDUPE_TOKENS_AT, Context, url_tokens
from trackguard.lists import parse_list
from trackguard.model import RequestType

LINES = [
    "||plain.example^",
    "/small/bucket-a",
    *[f"/crowd/{i}x" for i in range(SCREEN_AT + 2)],
    "%2Fevent.gif%3F",  # no whole token: a left-over
    "%2Fopen.aspx%3F$script",  # a left-over for scripts only
]


def _category() -> tuple[Category, dict[str, object]]:
    parsed = parse_list("\n".join(LINES) + "\n", "l", "abp")
    _, indexes, _, _ = build_index([parsed])
    return Category(indexes["block"]), indexes["block"]


def _first(category: Category, url: str, type_bit: int = 1) -> int | None:
    return category.first(Context(url, "page.example", type_bit, True))


def test_prepared_buckets_decide_as_the_filters_and_leave_the_index_alone() -> None:
    category, index = _category()
    before = copy.deepcopy(index)
    assert _first(category, "https://plain.example/x") == 0
    assert _first(category, "https://x.test/small/bucket-a1") == 1
    assert _first(category, "https://x.test/crowd/3x") == 5
    assert _first(category, "https://x.test/crowd/99x") is None
    assert _first(category, "https://x.test/a%2Fevent.gif%3Fb") == 2 + SCREEN_AT + 2
    assert _first(category, "https://x.test/%2Fopen.aspx%3F", 2) is None  # image
    assert _first(category, "https://x.test/%2Fopen.aspx%3F", 1) == 3 + SCREEN_AT + 2
    assert index == before
    assert type(category.token[b"bucket"]) is not list  # prepared once, beside the index
    assert type(category.token[b"crowd"]) is tuple  # crowded: screened by one RE2 set


def test_all_finds_every_match_once() -> None:
    category, _ = _category()
    ctx = Context("https://plain.example/small/bucket-a/crowd/1x", "page.example", 1, True)
    assert category.all(ctx) == [0, 1, 3]


NEEDY = [
    "/gtm/gtm-",  # two tokens: keyed by one, the other is needed too
    "/collect?tid=",
    "/page/page_view$image",
    "&ad_type=banner&",
    "-track^pixel.",
    "/Beacon/js/x$match-case",
]
# Whole filters, their parts and near misses: joined at random, some match and most
# URLs hold a filter's key token without the rest of it.
FRAGMENTS = [
    *NEEDY[:5],
    "/Beacon/js/x",
    "/beacon/js/x",
    "gtm",
    "/gtm/",
    "collect?",
    "tid=",
    "/page/",
    "page_view",
    "&ad_type=",
    "banner&",
    "-track",
    "pixel.",
    "/",
    "?",
    "x1",
]


def _needy() -> Category:
    parsed = parse_list("\n".join(NEEDY) + "\n", "l", "abp")
    _, indexes, _, _ = build_index([parsed])
    return Category(indexes["block"])


def test_filters_name_the_other_tokens_a_url_must_hold() -> None:
    category = _needy()
    needs = {}
    for key, bucket in list(category.token.items()):
        prepared = category._prepare(key, bucket) if type(bucket) is list else bucket
        for _, need, f in prepared:
            needs[f[0]] = (key, need)
    assert needs[0] in ((b"gtm", None),)  # `gtm` twice: nothing else to ask for
    key, need = needs[1]
    assert {key} | set(need or ()) == {b"collect", b"tid"}
    key, need = needs[5]
    assert {key} | set(need or ()) == {b"beacon", b"js"}  # case-sensitive: lower-cased


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(FRAGMENTS),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([1, 2]),
)
def test_long_urls_decide_as_every_filter_does(words: list[str], type_bit: int) -> None:
    """A long URL (over DEDUPE_TOKENS_AT tokens) meets its buckets by set intersection
    and turns filters down by their other tokens: it must find a match exactly when
    some filter matches (`all` checks every filter met, without either shortcut)."""
    category = _needy()
    padding = "".join(f"/p{i}" for i in range(DEDUPE_TOKENS_AT))
    url = "https://x.test" + padding + "".join(words)
    found = category.first(Context(url, "page.example", type_bit, True))
    every = category.all(Context(url, "page.example", type_bit, True))
    assert (found is None) == (not every), url
    assert found is None or found in every


GATE_KEYS = [b"ab", b"c9", b"%2f", b"x"]


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("abc9%2fx/?=&.Σİſ\ud800é-_")), max_size=80))
def test_the_token_gate_sees_exactly_the_whole_tokens(text: str) -> None:
    """The gate spares splitting a long URL only when no key is one of its tokens:
    on any text (non-ASCII, lone surrogates) it agrees with the tokenizer."""
    gate = token_gate({k: [] for k in GATE_KEYS})
    lower = ("https://h.test/" + text).lower()
    expected = any(t in GATE_KEYS for t in url_tokens(lower))
    assert bool(gate.Match(lower.encode("utf-8", "surrogatepass"))) is expected


def test_no_gate_for_large_or_empty_indexes() -> None:
    assert token_gate({}) is None
    assert token_gate({f"k{i}".encode(): [] for i in range(GATE_MAX_KEYS + 1)}) is None


EXCEPTIONS = [
    "||tracker.example^",
    "@@||tracker.example/tag.js$domain=news.example|~sub.news.example",
    "@@||tracker.example/pixel$image,third-party",
    "@@||tracker.example/own$~third-party",
]


@pytest.mark.parametrize(
    ("url", "page", "type_bit", "allowed"),
    [
        ("https://tracker.example/tag.js", "news.example", 1, True),
        ("https://tracker.example/tag.js", "sub.news.example", 1, False),
        ("https://tracker.example/tag.js", "other.example", 1, False),
        ("https://tracker.example/pixel", "news.example", 2, True),
        ("https://tracker.example/pixel", "news.example", 1, False),  # script, not image
        ("https://tracker.example/pixel", "tracker.example", 2, False),  # first-party
        ("https://tracker.example/own", "www.tracker.example", 1, True),
        ("https://tracker.example/own", "news.example", 1, False),
    ],
)
def test_host_options_sorted_once_per_page_decide_as_checked_per_request(
    url: str, page: str, type_bit: int, allowed: bool
) -> None:
    """Options of a host's filters are checked once per (host, page, type) and kept:
    asking the same question twice, and other pages in between, answers the same."""
    parsed = parse_list("\n".join(EXCEPTIONS) + "\n", "l", "abp")
    _, indexes, _, _ = build_index([parsed])
    allow = Category(indexes["allow"])
    for _ in range(2):
        for other in ("news.example", "other.example", "tracker.example"):
            allow.first(Context(url, other, type_bit, True))
        assert (allow.first(Context(url, page, type_bit, True)) is not None) is allowed


def test_a_crowded_host_is_checked_whole_and_the_page_memo_is_bounded() -> None:
    lines = [f"@@||busy.example/p{i}$domain=site{i}.example" for i in range(PAGE_SORT_MAX + 1)]
    parsed = parse_list("\n".join(lines) + "\n", "l", "abp")
    _, indexes, _, _ = build_index([parsed])
    allow = Category(indexes["allow"])
    assert allow.first(Context("https://busy.example/p3", "site3.example", 1, True)) == 3
    assert allow.first(Context("https://busy.example/p3", "site4.example", 1, True)) is None
    assert not allow._page_cache  # more than PAGE_SORT_MAX filters: not sorted per page
    small = Category(build_index([parse_list(EXCEPTIONS[1] + "\n", "l", "abp")])[1]["allow"])
    for i in range(PAGE_CACHE_SIZE + 10):
        small.first(Context("https://tracker.example/tag.js", f"p{i}.example", 1, True))
    assert len(small._page_cache) <= PAGE_CACHE_SIZE


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.text(st.sampled_from(list("ab9%/^-._XK")), min_size=1, max_size=8), max_size=4),
    st.sampled_from([0, FLAG_LEFT, FLAG_RIGHT, FLAG_HOST, FLAG_LEFT | FLAG_RIGHT]),
)
def test_other_tokens_are_the_compilers_safe_tokens(pieces: list[str], flags: int) -> None:
    """The C-level reading of a pattern's whole tokens agrees with the compiler's."""
    compiled = (0, 1, 0, None, None, None, (KIND_GENERIC, tuple(pieces), flags))
    expected = {t.encode() for t in safe_tokens(tuple(p.lower() for p in pieces), flags)}
    assert set(other_tokens(compiled, b"") or ()) == expected


def test_a_long_url_names_a_rule_of_its_host_and_path_first() -> None:
    """Of two rules matching a long URL, the one met through a token before `?` is
    named (path tokens decide most blocks; looking there first finds them sooner)."""
    parsed = parse_list("&aaq=\n/zzpath/a?\n", "l", "abp")
    _, indexes, _, _ = build_index([parsed])
    block = Category(indexes["block"])
    query = "&".join(f"p{i}=v{i}" for i in range(DEDUPE_TOKENS_AT))
    url = f"https://x.test/zzpath/a?{query}&aaq=1"
    assert block.first(Context(url, "page.example", 1, True)) == 1
    assert block.first(Context(f"https://x.test/a?{query}&aaq=1", "page.example", 1, True)) == 0


def test_many_host_tails_are_skipped_together_and_still_match() -> None:
    """A host with many `||host/path` tails tests their heads in one call; when none
    can match, only its other filters are walked (they must still match)."""
    lines = [f"||busy.example/p{i}/" for i in range(TAIL_GROUP_AT)]
    lines += ["||busy.example^x/", "||busy.example^$image", "||busy.example*/deep/"]
    parsed = parse_list("\n".join(lines) + "\n", "l", "abp")
    _, indexes, _, _ = build_index([parsed])
    block = Category(indexes["block"])
    n = TAIL_GROUP_AT

    def first(url: str, type_bit: int = 1) -> int | None:
        return block.first(Context(url, "page.example", type_bit, True))

    assert first("https://busy.example/p3/a") == 3
    assert first("https://busy.example/x/a") == n  # `^x/`: a head at host end + 1
    assert first("https://busy.example/q/deep/") == n + 2  # not anchored: still walked
    assert first("https://busy.example/q/", 2) == n + 1  # no pattern: still walked
    assert first("https://busy.example/q/") is None
    assert first("https://a.busy.example/p0/") == 0


DOCUMENT = int(RequestType.DOCUMENT)


def test_a_host_only_category_misses_hosts_it_has_nothing_for() -> None:
    """The `$document` exceptions are host buckets only: a page under none of them is
    answered without a `Context`, and the answer is `first`'s."""
    parsed = parse_list("@@||ok.example^$document\n@@||b.test^$document\n", "l", "abp")
    _, indexes, _, _ = build_index([parsed])
    docallow = Category(indexes["docallow"])
    for page in ("https://news.example/a", "https://www.ok.example/", "https://b.test/x", ""):
        host = Context(page, "", DOCUMENT, False).host if page else ""
        expected = docallow.first(Context(page, host, DOCUMENT, True)) is None if page else True
        assert docallow.misses_host(host) is expected
    mixed = Category(build_index([parse_list("@@/path/$document\n", "l", "abp")])[1]["docallow"])
    assert not mixed.misses_host("news.example")  # a token bucket: it must be asked


def test_a_long_url_skips_a_bucket_only_when_no_filter_can_have_its_tokens() -> None:
    """Two filters in one bucket (`kk`) needing different other tokens: a long URL
    holding only the second one's must still reach it."""
    parsed = parse_list("/kk/aa-\n/kk/bb-\n", "l", "abp")
    _, indexes, _, _ = build_index([parsed])
    filters = sorted(all_filters(indexes["block"]))
    index = {**indexes["block"], "token": {b"kk": filters}, "suffix": {}, "fallback": []}
    category = Category(index)
    padding = "".join(f"/p{i}" for i in range(DEDUPE_TOKENS_AT))
    for url, rule in (("/kk/bb-", 1), ("/kk/aa-", 0), ("/kk/cc-", None)):
        assert category.first(Context("https://x.test" + padding + url, "p.test", 1, True)) == rule


LEFT_OVERS = [  # no whole token each: all left over, for every type
    *(f"%2F{name}%3F" for name in ("event.gif", "open.aspx", "rw%2Fbeacon_", "x.php", "t.js")),
    "=aWQ9R1RNL*page=",
    ".com/vtrack",
    "/^https?:\\/\\/s3\\.*\\.amazonaws\\.com\\/[a-f0-9]{45,}/",
    "=bT1zdXY1JnI9",
    "%3Fq%3D",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "%2fevent.gif%3f",
                "%2Fopen.aspx%3F",
                "%2Frw%2Fbeacon_",
                "=aWQ9R1RNL",
                "page=",
                ".com/vtrack",
                "s3.amazonaws.com/",
                "a" * 45,
                "=bT1zdXY1JnI9",
                "%3Fq%3D",
                "/x",
            ]
        ),
        max_size=6,
    ),
    st.sampled_from([0, 500]),
)
def test_left_overs_decide_alike_on_short_and_long_urls(parts: list[str], pad: int) -> None:
    """Ten left-overs: checked one by one on a short URL, screened by their RE2 set on a
    long one (`SCREEN_URLS_OVER`); either way a match is found exactly when one exists."""
    parsed = parse_list("\n".join(LEFT_OVERS) + "\n", "l", "abp")
    _, indexes, _, _ = build_index([parsed])
    category = Category(indexes["block"])
    assert len(category.fallback) == len(LEFT_OVERS)
    url = "https://x.test/" + "".join(parts) + "&p=" + "z" * pad
    found = _first(category, url)
    every = category.all(Context(url, "page.example", 1, True))
    assert (found is None) == (not every), url
    assert found is None or found in every
