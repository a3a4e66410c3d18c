"""A token bucket's prepared forms (`engine/buckets.py`).

`other_tokens`, `token_gate` and the long-URL bucket skip are also exercised through
`Category` in `test_category.py`; here the forms are checked on their own.
"""

from __future__ import annotations

from trackguard.engine.buckets import paired, with_needs
from trackguard.engine.category import all_filters
from trackguard.engine.compiler import Compiled, build_index
from trackguard.lists import parse_list


def _filters(text: str) -> list[Compiled]:
    _, indexes, _, _ = build_index([parse_list(text, "l", "abp")])
    return all_filters(indexes["block"])


def test_needs_keep_each_filters_other_tokens_and_their_union() -> None:
    filters = _filters("/ads/banner.gif\n/ads/popup.js\n")
    needs = with_needs(b"ads", filters)
    assert sorted(need for _, need, _ in needs if need) == [  # type: ignore[type-var]
        frozenset({b"banner"}),  # `gif` may go on: `.gifx`
        frozenset({b"popup"}),
    ]
    assert needs.union == frozenset({b"banner", b"popup"})
    assert with_needs(b"ads", _filters("/ads/banner.gif\n/ads/\n")).union is None  # one names none


def test_pairs_carry_their_prefilter_literals() -> None:
    assert [literal for literal, _ in paired(_filters("/tracker.js\n"))] == ["/tracker.js"]
