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
from trackguard.engine.filters import host_prefilter, match, prefilter_literal
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
    in_bucket = {text: prefilter_literal(f, "ad") for text, f in COMPILED}  # type: ignore[arg-type]
    assert literals["-ad^top"] == "-ad"
    assert in_bucket["-ad^top"] == "top"  # in the `ad` bucket every URL holds `ad`
    assert literals["/banner/ad_"] == "/banner/ad_"
    assert literals["||ads.example^*/Track$match-case"] == "/track"
    assert literals["/aΣ$match-case"] == ""  # not ASCII: no literal
    assert literals["/İx/"] == "x"  # a regex: its ASCII literal run (`İ` matches only itself)


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
                # Any bucket token may steer the choice: each choice is still a text
                # every match holds.
                for token in ("", "banner", "ad", "track", "x", "example"):
                    literal = prefilter_literal(f, token)  # type: ignore[arg-type]
                    assert literal in ctx.lower, (f, url, token)


HOST_FILTERS = [
    "||ads.example/path^x",
    "||ads.example^track/",
    "||ads.example/Trk^a$match-case",
    "||ads.example^*/deep",  # not anchored at the host's end: tested by `in`
    "||ads.example/aΣ$match-case",  # not ASCII: tested by `in` ("" here)
]


def _host_compiled() -> dict[str, object]:
    parsed = parse_list("\n".join(HOST_FILTERS) + "\n", "l", "abp")
    rules, indexes, _, _ = build_index([parsed])
    return {rules[f[0]].source.text: f for f in all_filters(indexes["block"])}


HOST_COMPILED = _host_compiled()


def test_host_prefilters_of_anchored_tails_are_their_heads() -> None:
    got = {text: host_prefilter(f) for text, f in HOST_COMPILED.items()}  # type: ignore[arg-type]
    assert got["||ads.example/path^x"] == ("/path", 0)
    assert got["||ads.example^track/"] == ("track/", 1)  # `^` after the host takes one
    assert got["||ads.example/Trk^a$match-case"] == ("/trk", 0)
    assert got["||ads.example^*/deep"] == ("/deep", -1)
    assert got["||ads.example/aΣ$match-case"] == ("", -1)


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.sampled_from(list("/?:^pathxTrkAackΣσ.deI")), max_size=16),
    st.sampled_from(["https://ads.example", "http://cdn.ads.example:8080", "https://ads.example"]),
)
def test_a_host_filter_that_matches_holds_its_host_prefilter(tail: str, base: str) -> None:
    for head in ("/path^x", "/track/", "?track/", "/Trk/a", "/trk:a", ""):
        url = base + head + tail
        ctx = Context(url, "page.example", 1, True)
        for text, f in HOST_COMPILED.items():
            if ctx.host and match(f, ctx):  # type: ignore[arg-type]
                literal, where = host_prefilter(f)  # type: ignore[arg-type]
                if where < 0:
                    assert literal in ctx.lower, (text, url)
                else:
                    assert ctx.lower.startswith(literal, ctx.host_end + where), (text, url)
