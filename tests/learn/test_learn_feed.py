"""Exchanges to observations: cookies, partitioned names, page cookies, types (§B3, §B4)."""

from __future__ import annotations

from trackguard.learn.feed import (
    Exchange,
    Feed,
    content_class,
    parse_cookie_header,
    parse_set_cookie,
)
from trackguard.model import RequestType

T = 1_700_000_000.0


def ex(
    url: str, *headers: tuple[str, str], response: tuple[tuple[str, str], ...] = (), t: float = T
) -> Exchange:
    return Exchange(
        t, "GET", url, (("referer", "https://www.news.example/"), *headers), 200, response, 43
    )


def test_parsers() -> None:
    assert parse_cookie_header("a=1; b = 2;c") == (("a", "1"), ("b", "2"))
    c = parse_set_cookie("id=xyz; Path=/; Max-Age=0", T)
    assert c is not None and c.deletes and c.value == "xyz"
    c = parse_set_cookie("id=xyz; Expires=Thu, 01 Jan 1970 00:00:00 GMT", T)
    assert c is not None and c.deletes
    c = parse_set_cookie("id=xyz; Secure; Partitioned", T)
    assert c is not None and c.partitioned and not c.deletes
    assert parse_set_cookie("garbage", T) is None
    assert content_class("application/javascript; charset=utf-8") == "script"
    assert content_class("image/gif") == "image"


def test_first_party_cookies_feed_url_id_and_are_not_observations() -> None:
    feed = Feed()
    assert (
        feed.observation(
            ex("https://www.news.example/app.js", ("cookie", "_ga=GA1.2.998877665544")),
            "www.news.example",
        )
        is None
    )
    o = feed.observation(ex("https://t.tracker.example/c?cid=998877665544"), "www.news.example")
    assert o is not None and o.page_cookie_values == ("GA1.2.998877665544",)
    # expires with the page context (30 minutes)
    late = feed.observation(ex("https://t.tracker.example/c", t=T + 3600), "www.news.example")
    assert late is not None and late.page_cookie_values == ()


def test_partitioned_names_are_left_out_when_sent_back() -> None:
    feed = Feed()
    feed.observation(
        ex(
            "https://w.chips.example/e",
            response=(("set-cookie", "pid=abcdef0123456789; Partitioned; Secure"),),
        ),
        "news.example",
    )
    o = feed.observation(
        ex("https://w.chips.example/e", ("cookie", "pid=abcdef0123456789; uid=1234567890abcdef")),
        "news.example",
    )
    assert o is not None and o.sent_cookies == (("uid", "1234567890abcdef"),)
    # learned where attribution failed: still left out everywhere
    feed2 = Feed()
    feed2.note_unattributed(
        ex("https://w.chips.example/e", response=(("set-cookie", "pid=1; Partitioned"),))
    )
    o = feed2.observation(
        ex("https://w.chips.example/e", ("cookie", "pid=abcdef0123456789")), "other.example"
    )
    assert o is not None and o.sent_cookies == ()


def test_types_query_and_path() -> None:
    feed = Feed()
    o = feed.observation(
        ex("https://t.example:8443/a/b.gif?x=1&y=2#f", ("ping-to", "https://x/")), "news.example"
    )
    assert o is not None
    assert o.request_type is RequestType.PING
    assert o.path == "/a/b.gif" and o.query == (("x", "1"), ("y", "2"))
    o = feed.observation(ex("https://t.example/s.js", ("sec-fetch-dest", "script")), "news.example")
    assert o is not None and o.request_type is RequestType.SCRIPT and o.response is not None
