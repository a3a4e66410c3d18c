"""One compiled filter against one request (engine/filters.py).

`prefilter_literal` may turn a filter down before `match` is called, so it must never
turn down a filter that matches: for every filter and URL below, `match` implies that
the literal occurs in the lower-cased URL.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.engine.category import all_filters
from trackguard.engine.compiler import build_index
from trackguard.engine.filters import match, prefilter_literal
from trackguard.engine.request import Context
from trackguard.lists import parse_list

FILTERS = [
    "/banner/ad_",
    "||ads.example/path^x",
    "||ads.example^*/Track$match-case",
    "/aΣ$match-case",  # lower-cased alone, Σ becomes ς; inside a word, σ
    "/İx/",  # regex: no literal
    "-ad^top",
    "|https://cdn.example/*.js|",
]


def _compiled() -> list[tuple[str, object]]:
    parsed = parse_list("\n".join(FILTERS) + "\n", "l", "abp")
    rules, indexes, _, _ = build_index([parsed])
    return [
        (rules[f[0]].source.text, f) for category in indexes.values() for f in all_filters(category)
    ]


COMPILED = _compiled()


def test_literals_are_ascii_parts_every_match_holds() -> None:
    literals = {text: prefilter_literal(f) for text, f in COMPILED}  # type: ignore[arg-type]
    assert literals["/banner/ad_"] == "/banner/ad_"
    assert literals["||ads.example^*/Track$match-case"] == "/track"
    assert literals["/aΣ$match-case"] == ""  # not ASCII: no literal
    assert literals["/İx/"] == ""


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.sampled_from(list("aΣσς/bBanertT_xXİi.^-pd")), max_size=20),
    st.sampled_from(["https://ads.example/", "https://x.test/", "https://cdn.example/"]),
)
def test_a_filter_that_matches_holds_its_literal(path: str, base: str) -> None:
    for text in ("", "banner/ad_", "path^x/Track", "aΣb", "-ad/top"):
        url = base + text + path
        ctx = Context(url, "page.example", 1, True)
        for _, f in COMPILED:
            if match(f, ctx):  # type: ignore[arg-type]
                assert prefilter_literal(f) in ctx.lower, (f, url)  # type: ignore[arg-type]
