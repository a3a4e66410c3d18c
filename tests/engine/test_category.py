"""One category's index prepared for lookups (engine/category.py).

The prepared forms (paired or screened token buckets, left-overs split by request type)
live beside the index: the index, which is what the cache file holds, never changes.
"""

from __future__ import annotations

import copy

from trackguard.engine.category import SCREEN_AT, Category
from trackguard.engine.compiler import build_index
from trackguard.engine.request import Context
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
