"""`engine.pieces`: the reduced-URL search for `^` pieces, its padding, and the budget."""

from __future__ import annotations

import pytest

from trackguard.engine.pieces import (
    Budget,
    OverBudget,
    find_sep,
    prepare,
    reduce,
    sep_at,
    trailing_separators,
)


def test_reduce_maps_every_separator_to_caret_and_keeps_length() -> None:
    assert reduce("http://a.b/c?d=1&e-f_g%20") == "http^^^a.b^c^d^1^e-f_g%20"
    assert reduce("aé\u2028Z") == "a^^Z"
    assert len(reduce("x/é/y")) == 5


def test_prepare_keeps_spelled_out_separators_for_the_real_url() -> None:
    reduced, checks, key_offset, key, length = prepare("/ads^x=")
    assert reduced == "^ads^x^"
    assert checks == ((0, "/ads"), (5, "x="))
    assert (key_offset, key, length) == (0, "/ads", 7)
    assert prepare("a^b")[1:4] == ((), 0, "")
    assert trailing_separators("a^^") == 2 and trailing_separators("a^b") == 0


def _find(piece: str, text: str, pos: int = 0, at_end: bool = False) -> int:
    padded = reduce(text) + "^" * max(8, trailing_separators(piece))
    return find_sep(text, padded, prepare(piece), pos, at_end, Budget())


@pytest.mark.parametrize(
    ("piece", "text", "expected"),
    [
        ("a^", "xa/a", 1),  # `^` meets a separator
        ("a^", "xaa", 2),  # ... or the end of the text
        ("a^^", "xa", 1),  # both at the end (zero width)
        ("a^b", "a.b a:b", 4),  # `.` is no separator
        ("/ads^", "x:ads/ads?", 5),  # the spelled-out `/` is checked on the real text
        ("/^", "::::/", 4),
        ("/^", "::::", -1),
        ("?^x", "?/y?:x", 3),
    ],
)
def test_find_sep_finds_the_leftmost_match(piece: str, text: str, expected: int) -> None:
    assert _find(piece, text) == expected


def test_find_sep_at_end_and_anchored() -> None:
    assert _find("a^", "a/a/", at_end=True) == 2
    assert _find("a^", "a/ab", at_end=True) == -1
    padded = reduce("a/b") + "^" * 8
    assert sep_at("a/b", padded, prepare("a^b"), 0, True)
    assert not sep_at("a/b", padded, prepare("a^"), 1, False)


def test_budget_raises_when_spent() -> None:
    budget = Budget(10)
    budget.charge(10)
    with pytest.raises(OverBudget):
        budget.charge(1)
    with pytest.raises(OverBudget):
        find_sep("/" * 100, "^" * 108, prepare("/^" * 20 + "/"), 0, False, Budget(5))


def _work(piece: str, text: str) -> int:
    budget = Budget(10**12)
    reduced = reduce(text) + "^" * 8
    find_sep(text, reduced, prepare(piece), 0, False, budget)
    return 10**12 - budget.left


@pytest.mark.parametrize(
    ("piece", "unit"),
    [("a^" * 500, "a/"), ("/^" * 200 + "b", "/"), ("a/^", ":"), ("/^/^/^x", "/:/")],
)
def test_separator_search_work_grows_linearly_with_the_url(piece: str, unit: str) -> None:
    """Doubling the URL at most doubles the work (plus the piece), for hostile pieces."""
    small = _work(piece, unit * 2000)
    large = _work(piece, unit * 4000)
    assert large <= 2 * small + 4 * len(piece) + 256
