"""Index tokens for `/regex/` filters (engine/literals.py).

A token taken from a regex must be a whole token of every URL the regex matches, or a
regex filter in that token's bucket would miss URLs it used to block. Each case is
checked against RE2 itself on a URL it matches.
"""

from __future__ import annotations

import re

import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.engine import Engine
from trackguard.engine.literals import bounded_tokens, regex_pieces, regex_tokens
from trackguard.engine.request import url_tokens as _url_tokens

CASES = [
    # (regex body, case-sensitive?, expected tokens, a URL the regex matches)
    (r"(https?:\/\/)104\.154\..{100,}", False, ["154"], "https://104.154.1." + "x" * 100),
    (r"\/[0-9a-f]{32}\/invoke\.js", False, ["invoke"], "https://x.test/" + "a" * 32 + "/invoke.js"),
    (r"^https?:\/\/s3\.*\.amazonaws\.com\/[a-f0-9]{45,}", True, ["amazonaws", "com"], ""),
    (r"\/Stats\/", True, ["stats"], "https://x.test/Stats/"),
]


def test_tokens_come_from_bounded_literal_runs() -> None:
    for body, case, expected, url in CASES:
        assert regex_tokens(body, case) == expected, body
        if url:
            assert re2.search(body, url), body
            tokens = {t.decode() for t in _url_tokens(url.lower())}
            assert set(expected) <= tokens, body


def test_no_tokens_where_the_dialects_could_disagree_or_nothing_is_bounded() -> None:
    for body in (
        r"x[[:alpha:]]abc\.",  # a POSIX class Python would read as a set and a `]`
        r"\Qa.b\E\.c",
        r"\pL\.abc\.",
        r"/abc|/abd/",  # a top-level alternative: nothing is certain
        r"(?x)/a b c/",
        r"/ab(/",  # Python refuses it: no tokens, no error
        r"abc",  # unbounded on both sides: could be inside a longer token
        r"^abc\.",  # an anchor is not a literal: `abc` is left-unbounded here
    ):
        assert regex_tokens(body, False) == [], body


def test_case_insensitive_tokens_never_hold_an_s() -> None:
    """RE2 folds `s` to `ſ`, which the lower-cased URL keeps: `\\/stats\\/` matches
    `/ſtats/`, whose URL token is not `stats`, so no such token is taken."""
    assert re2.search("(?i)/stats/", "https://x.test/ſtats/")
    assert regex_tokens(r"\/stats\/", False) == []
    assert regex_tokens(r"\/stats\/", True) == ["stats"]
    engine = Engine.from_text("/\\/stats\\//\n", "abp")
    assert engine.check("https://x.test/ſtats/", "https://p.test/").blocked


def test_a_regex_in_a_token_bucket_decides_as_before() -> None:
    engine = Engine.from_text("/\\/[0-9a-f]{8}\\/invoke\\.js/$script\n", "abp")
    blocked = "https://x.test/0123abcd/invoke.js"
    assert engine.check(blocked, "https://p.test/", "script").blocked
    assert not engine.check(blocked, "https://p.test/", "image").blocked
    assert not engine.check("https://x.test/0123abcd/invokes.js", None, "script").blocked


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "1", ".", "/", "-", "%", "_", "\\.", "[ab]", "x*"])))
def test_every_match_holds_the_tokens(parts: list[str]) -> None:
    """For a random regex, any URL RE2 matches it in contains each token as a whole token."""
    body = "".join(parts)
    if not body:
        return
    try:
        compiled = re2.compile(body)
    except re2.error:
        return
    tokens = regex_tokens(body, True)
    for url in ("https://x.test/" + "".join(p.strip("\\[]*") for p in parts), "https://x/"):
        if compiled.search(url):
            have = {t.decode() for t in _url_tokens(url.lower())}
            assert set(tokens) <= have, (body, url)


def test_regex_pieces_are_the_literal_runs_without_an_s_when_folded() -> None:
    body = r"^https?:\/\/s3\.*\.amazonaws\.com\/[a-f0-9]{45,}"
    assert regex_pieces(body, True) == ("http", "://s3", ".amazonaws.com/")
    assert regex_pieces(body, False) == ("http", "://", "3", ".amazonaw", ".com/")
    assert regex_pieces(r"/abc|/abd/", False) == ("/ab",)  # what both alternatives hold
    assert regex_pieces(r"abc|xyz", False) == ()
    assert regex_pieces(r"\Qa.b\E", False) == ()  # a dialect mark
    assert regex_pieces(r"(?i)\/Stats\/x", True) == ("/", "tat", "/x")  # `(?i)` wins
    assert regex_tokens(r"(?i)\/stats\/", True) == []  # so no token with an `s` either
    engine = Engine.from_text("/(?i)\\/stats\\//$match-case\n", "abp")
    assert engine.check("https://x.test/ſtats/", "https://p.test/").blocked


_FOLDS = {"s": "ſ", "k": "\u212a", "i": "İ"}


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "a",
                "s",
                "S",
                "k",
                "K",
                "i",
                "İ",
                "ſ",
                ".",
                "\\.",
                "/",
                "[sk]",
                "s?",
                "(a|s)",
                "x*",
                "é",
            ]
        ),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),
    st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_every_match_holds_the_pieces(parts: list[str], case: bool, swaps: list[bool]) -> None:
    """For a random regex, any text RE2 matches it in holds each piece once lower-cased,
    with the case folds RE2 makes (`ſ`, the Kelvin sign, upper case) in the text."""
    body = "".join(parts)
    try:
        compiled = re2.compile(body if case else "(?i)" + body)
    except re2.error:
        return
    pieces = regex_pieces(body, case)
    plain = [p.strip("\\[]*?()|") or "a" for p in parts]
    for text in (
        "".join(plain),
        "".join(_FOLDS.get(p, p) if swap else p for p, swap in zip(plain, swaps, strict=False)),
        "".join(p.upper() if swap else p for p, swap in zip(plain, swaps, strict=False)),
    ):
        if compiled.search(text):
            for piece in pieces:
                assert piece in text.lower(), (body, case, text, piece)


_RUN = re.compile(r"[a-z0-9%]+")  # noqa: TID251 - the token definition, as a reference


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.text(st.sampled_from(list("ab9%/^-._éΣ\ud800")), min_size=1, max_size=8), max_size=4
    ),
    st.booleans(),
    st.booleans(),
)
def test_bounded_tokens_are_the_bounded_runs(pieces: list[str], left: bool, right: bool) -> None:
    """The builder's, the regex reader's and the matcher's one reading of whole tokens
    (C-level splits) keeps exactly the runs a regex finds bounded inside the pieces, or
    at an anchored end, on any text."""
    expected = []
    for i, piece in enumerate(pieces):
        for m in _RUN.finditer(piece):
            if (m.start() > 0 or (left and i == 0)) and (
                m.end() < len(piece) or (right and i == len(pieces) - 1)
            ):
                expected.append(m.group().encode())
    assert bounded_tokens(pieces, left, right) == expected
