"""Detectors and the entropy estimator (learning.md §B4), and hostile input (L-11)."""

from __future__ import annotations

import math
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.learn import detect
from trackguard.learn.core import LearnContext, Learner
from trackguard.learn.feed import Exchange, Feed
from trackguard.learn.keys import site_tagger
from trackguard.learn.model import (
    ExtraKind,
    ExtraSignal,
    Kind,
    LearnConfig,
    Observation,
    ResponseShape,
    SetCookieInfo,
)
from trackguard.model import RequestType

CFG = LearnConfig()


def obs(**kw: object) -> Observation:
    base: dict[str, object] = dict(
        day=1, site_host="news.example", request_host="t.example", request_type=RequestType.IMAGE
    )
    base.update(kw)
    return Observation(**base)  # type: ignore[arg-type]


def test_estimator_classes() -> None:
    assert detect.estimate_bits("") == 0
    assert detect.estimate_bits("0101") == 4
    assert math.isclose(detect.estimate_bits("123456"), 6 * math.log2(10))
    assert math.isclose(detect.estimate_bits("deadbeef"), 8 * 4)
    assert math.isclose(detect.estimate_bits("w.x-y_z"), 4 * math.log2(26))  # separators free
    assert math.isclose(detect.estimate_bits("GA1.2.12345.67890"), 14 * math.log2(62))
    assert detect.estimate_bits("x" * 300) == 300  # long values: one bit per character


def test_estimator_reads_at_most_256_characters() -> None:
    class Probe(str):
        reads = 0

        def __iter__(self):  # type: ignore[no-untyped-def]
            Probe.reads += 1
            return super().__iter__()

    assert detect.estimate_bits(Probe("a" * 100_000)) == 100_000
    assert Probe.reads == 0


def test_cookie_table_and_threshold() -> None:
    assert detect.cookie_bits(obs(sent_cookies=(("lang", "en"),)), CFG) == 8
    assert not detect.detect(obs(sent_cookies=(("lang", "en"), ("ok", "yes"))), CFG)
    assert detect.detect(obs(sent_cookies=(("uid", "a81f"),)), CFG) == Kind.COOKIE
    # two-letter unknown tokens alone do not trigger (§B4 difference from PB)
    assert not detect.detect(obs(sent_cookies=(("v", "q7"),)), CFG)
    # the same cookie sent and set back counts once
    again = obs(sent_cookies=(("lang", "en"),), set_cookies=(SetCookieInfo("lang", "en"),))
    assert detect.cookie_bits(again, CFG) == 8
    deleting = SetCookieInfo("uid", "f" * 20, deletes=True)
    assert not detect.detect(obs(set_cookies=(deleting,)), CFG)
    partitioned = SetCookieInfo("uid", "f0" * 10, partitioned=True)
    assert not detect.detect(obs(set_cookies=(partitioned,)), CFG)
    assert not detect.detect(obs(sent_cookies=(("__cf_bm", "x" * 80),)), CFG)


def test_url_id_needs_a_shared_first_party_value() -> None:
    fp = "c0ffee1234567890abcd"
    shared = obs(query=(("cid", f"1.{fp}"),), page_cookie_values=(fp,))
    assert detect.detect(shared, CFG) & Kind.URL_ID
    unshared = obs(query=(("cid", fp),), page_cookie_values=("other-value-1",))
    assert not detect.detect(unshared, CFG) & Kind.URL_ID
    short = obs(query=(("cid", "abc1234"),), page_cookie_values=("abc1234xyz",))
    assert not detect.detect(short, CFG) & Kind.URL_ID
    # the page URL itself is removed before matching
    page = "https://news.example/article/2024"
    echoed = obs(query=(("u", page),), page_cookie_values=(page,), page_url=page)
    assert not detect.detect(echoed, CFG) & Kind.URL_ID


def test_beacon_pixel_storage_fingerprint() -> None:
    assert detect.detect(obs(request_type=RequestType.PING), CFG) == Kind.BEACON
    pixel = obs(query=(("id", "8f7a6b5c4d3e2f1a"),), response=ResponseShape(200, "image", 43))
    assert detect.detect(pixel, CFG) == Kind.PIXEL
    cache_buster = obs(query=(("v", "3"),), response=ResponseShape(200, "image", 43))
    assert not detect.detect(cache_buster, CFG)
    big = obs(query=(("id", "8f7a6b5c4d3e2f1a"),), response=ResponseShape(200, "image", 9000))
    assert not detect.detect(big, CFG)
    storage = frozenset({ExtraSignal(ExtraKind.STORAGE_ID, bits=40)})
    assert detect.detect(obs(extra=storage), CFG) == Kind.STORAGE
    weak = frozenset({ExtraSignal(ExtraKind.STORAGE_ID, bits=20)})
    assert not detect.detect(obs(extra=weak), CFG)
    fp = frozenset({ExtraSignal(ExtraKind.CANVAS_FP, script_path="/fp.js")})
    assert detect.detect(obs(extra=fp), CFG) == Kind.FINGERPRINT
    assert detect.fingerprint_path(obs(extra=fp)) == "/fp.js"


def test_beacon_shaped_posts_and_unanswered_pixels() -> None:
    """The L-12 additions: analytics collectors post without cookies and pixels are often
    cut off by the page's unload; assets, APIs and video fetches stay out."""
    xhr, other = RequestType.XMLHTTPREQUEST, RequestType.OTHER
    tiny_json = ResponseShape(200, "json", 145)
    assert detect.detect(obs(request_type=xhr, method="POST", response=tiny_json), CFG) == (
        Kind.BEACON
    )
    assert detect.is_beacon(
        obs(request_type=xhr, method="POST", response=ResponseShape(204, "", 0))
    )
    assert detect.is_beacon(obs(request_type=other, method="POST"))  # status 0: cut off
    assert not detect.is_beacon(obs(request_type=xhr, method="POST"))  # an aborted fetch
    big = ResponseShape(200, "json", 40_000)
    assert not detect.is_beacon(obs(request_type=xhr, method="POST", response=big))  # an API
    refused = ResponseShape(403, "json", 100)
    assert not detect.is_beacon(obs(request_type=xhr, method="POST", response=refused))
    assert not detect.is_beacon(obs(request_type=xhr, method="GET", response=tiny_json))
    script = obs(request_type=RequestType.SCRIPT, method="POST", response=tiny_json)
    assert not detect.is_beacon(script)
    # A pixel whose answer never came: the id-sized value was sent all the same.
    sent_id = (("id", "8f7a6b5c4d3e2f1a"),)
    assert detect.detect(obs(query=sent_id), CFG) == Kind.PIXEL
    assert detect.detect(obs(query=sent_id, request_type=RequestType.PING), CFG) & Kind.PIXEL
    assert not detect.detect(obs(query=sent_id, request_type=xhr), CFG)  # video range fetch
    assert not detect.detect(obs(query=(("v", "3"),)), CFG)  # a cache buster


def _exchange(url: str, cookie: str, set_cookie: str) -> Exchange:
    headers = (
        ("referer", "https://news.example/"),
        ("cookie", cookie),
        ("sec-fetch-dest", "image"),
    )
    return Exchange(86400.0, "GET", url, headers, 200, (("set-cookie", set_cookie),), 43)


def test_l11_hostile_input_is_bounded() -> None:
    feed = Feed()
    learner = Learner(LearnContext(config=CFG, site_tag=site_tagger(b"k" * 32)))
    huge_cookie = "uid=" + "A" * 1_000_000
    many_params = "https://t.example/p?" + "&".join(f"k{i}=v{i}" for i in range(10_000))
    cases = [
        _exchange("https://t.example/p", huge_cookie, "x=" + "é" * 100_000),
        _exchange(many_params, "a=b", "c=d"),
        _exchange("https://t.example/\udcff\x00?q=\udcfe", "\udcff=\x00", "\udcff"),
        _exchange("https://" + "a." * 200 + "example/", "u=1", ""),
        _exchange("https://[::1]/x", "uid=" + "f" * 40, ""),
        _exchange("https://10.0.0.1/x", "uid=" + "f" * 40, ""),
        _exchange("https://xn--/x", "", ""),
    ]
    start = time.process_time()
    for ex in cases:
        o = feed.observation(ex, "news.example")
        if o is not None:
            assert len(o.query) <= detect.MAX_PAIRS
            learner.observe(o)
    assert time.process_time() - start < 30  # generous: the real bound is the caps above
    # private hosts and IP literals never become trackers
    assert learner.observe(feed.observation(cases[4], "news.example")) is None  # type: ignore[arg-type]
    assert learner.observe(feed.observation(cases[5], "news.example")) is None  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    url=st.text(max_size=300),
    cookie=st.text(max_size=300),
    set_cookie=st.text(max_size=300),
    site=st.text(max_size=80),
    value=st.text(max_size=600),
)
def test_l11_fuzz_never_raises(
    url: str, cookie: str, set_cookie: str, site: str, value: str
) -> None:
    feed = Feed()
    learner = Learner(LearnContext(config=CFG, site_tag=site_tagger(b"k" * 32)))
    for candidate in (url, "https://t.example/?" + url, "http://" + url):
        o = feed.observation(_exchange(candidate, cookie, set_cookie), site or "news.example")
        if o is not None:
            learner.observe(o)
            learner.presence(o)
    detect.estimate_bits(value)
    detect.longest_shared(value, (value[::-1], value))
