"""The request as filters see it (engine/request.py): tokens, URL text, page keys."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.domain import MEMO_URL_MAX
from trackguard.engine import Engine, request
from trackguard.engine.request import DEDUPE_TOKENS_AT, Context, page_host, url_tokens

_REFERENCE = re.compile(r"[a-z0-9%]+")  # noqa: TID251 - the token definition itself


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("ab9%/.?=&-_ KΣſİé\ud800\x00")), max_size=60))
def test_tokens_are_the_runs_of_token_characters(text: str) -> None:
    """Bytes tokenisation (C-speed) finds exactly what the character class says, on any
    text, non-ASCII and lone surrogates included."""
    lower = text.lower()
    expected = _REFERENCE.findall(lower)
    got = [t.decode() for t in url_tokens(lower)]
    if len(expected) > DEDUPE_TOKENS_AT:
        expected = list(dict.fromkeys(expected))
    assert got == expected


def test_long_token_lists_are_deduplicated() -> None:
    tokens = url_tokens("https://x.test/" + "ad/" * 500)
    assert tokens.count(b"ad") == 1 and len(tokens) == len(set(tokens))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b9", "%", "ad", "x", "ab", "a%b"]), min_size=1, max_size=600)
)
def test_repeated_tokens_keep_their_first_order(words: list[str]) -> None:
    """Hostile URLs (hundreds of tokens, few distinct) take the `set` + `find` path;
    the order of first occurrence must be the one `dict.fromkeys` gives."""
    lower = "https://x.test/" + "/".join(words)
    expected = list(dict.fromkeys(_REFERENCE.findall(lower)))
    if len(_REFERENCE.findall(lower)) <= DEDUPE_TOKENS_AT:
        expected = _REFERENCE.findall(lower)
    assert [t.decode() for t in url_tokens(lower)] == expected


def test_context_splits_once_and_knows_the_party() -> None:
    ctx = Context("https://CDN.Tracker.example:443/A?b#frag", "news.example", 1, True)
    assert (ctx.host, ctx.text) == ("cdn.tracker.example", "https://cdn.tracker.example/A?b")
    assert ctx.lower == "https://cdn.tracker.example/a?b"
    assert ctx.text[ctx.host_start : ctx.host_end] == ctx.host
    assert ctx.third is None and ctx.is_third() is True
    same = Context("https://static.news.example/x", "news.example", 1, True)
    assert same.is_third() is False
    assert Context("https://a.example/", "", 1, False).third is True  # no page: third-party


def test_the_party_memo_is_bounded_and_answers_alike_after_it_is_cleared() -> None:
    for i in range(request.THIRD_KEPT + 10):
        Context(f"https://h{i}.tracker.example/", "news.example", 1, True).is_third()
    assert 0 < len(request._THIRD) <= request.THIRD_KEPT
    assert Context("https://h1.tracker.example/", "news.example", 1, True).is_third() is True
    assert Context("https://www.news.example/", "news.example", 1, True).is_third() is False


def test_page_host_of_a_page_url() -> None:
    assert page_host("https://www.News.example/article?x") == "www.news.example"
    assert page_host("about:blank") == ""


def test_the_page_host_memo_keeps_no_long_page_urls() -> None:
    """Hostile page URLs (a Referer is the client's to choose) must not fill the memo
    with megabytes: a URL past the cap is answered, not kept; the memo stays bounded."""
    request._PAGE_HOST.clear()
    long_url = "https://long.example/" + "x" * MEMO_URL_MAX
    assert page_host(long_url) == "long.example"
    assert long_url not in request._PAGE_HOST
    for i in range(request.PAGES_KEPT + 10):
        page_host(f"https://p{i}.example/")
    assert len(request._PAGE_HOST) <= request.PAGES_KEPT
    assert page_host("https://p1.example/") == "p1.example"
    # The matcher's memo of `$document` exceptions per page URL keeps to the same cap.
    engine = Engine.from_text("@@||ok.example^$document\n||ads.example^\n")
    long_page = "https://ok.example/" + "y" * MEMO_URL_MAX
    assert not engine.check("https://ads.example/x.js", long_page, "script").blocked
    assert engine.check("https://ads.example/x.js", "https://p.example/", "script").blocked
    assert long_page not in engine._matcher._doc_cache
