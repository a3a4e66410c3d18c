"""One category's index prepared for lookups (engine/category.py).

The prepared forms (paired or screened token buckets, left-overs split by request type)
live beside the index: the index, which is what the cache file holds, never changes.
"""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.engine.category import SCREEN_AT, Category
from trackguard.engine.compiler import build_index
from trackguard.engine.request import DEDUPE_TOKENS_AT, Context
from trackguard.lists import parse_list

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
