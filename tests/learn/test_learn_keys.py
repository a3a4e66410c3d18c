"""Tracker and site keys, the entity map, and what is never learned (learning.md §B5)."""

from __future__ import annotations

import json

from corpus_paths import corpus_path
from trackguard.learn import keys


def test_tracker_key_uses_the_private_psl_section() -> None:
    assert keys.tracker_key("a.b.tracker.example") == "tracker.example"
    assert keys.tracker_key("d111.cloudfront.net") == "d111.cloudfront.net"
    assert keys.tracker_key("me.github.io") == "me.github.io"
    assert keys.tracker_key("stats.shop.co.uk") == "shop.co.uk"
    for private in ("127.0.0.1", "[::1]", "localhost", "nas.local", "router", "10.1.2.3", ""):
        assert keys.tracker_key(private) is None, private


def test_entity_map_from_disconnect_corpus() -> None:
    data = json.loads((corpus_path() / "other" / "disconnect-entities.json").read_text())
    entities = keys.entity_map_from_disconnect(data)
    assert entities.related("google.com", "doubleclick.net")
    assert entities.related("facebook.com", "fbcdn.net")
    assert not entities.related("google.com", "facebook.com")
    assert keys.site_key("www.youtube.com", entities) == keys.site_key("google.com", entities)


def test_entity_map_tolerates_garbage() -> None:
    bad = {"entities": {"X": {"properties": [1, None, "ok.example"]}, "Y": [], 3: {}}}
    entities = keys.entity_map_from_disconnect(bad, [("local.example", "X")])
    assert entities.related("ok.example", "local.example")
    assert keys.entity_map_from_disconnect(None).owners == {}


def test_shipped_tables_have_reasons_and_match_parents() -> None:
    for table in (keys.IGNORED_HOSTS, keys.STRIP_ONLY, keys.SHARED_CDNS):
        assert all(reason.strip() for reason in table.values())
    assert keys.ignored_reason("cdn.cookielaw.org")
    assert keys.ignored_reason("a.b.consensu.org")
    assert keys.ignored_reason("cookielaw.org.evil.example") is None
    assert keys.strip_only_reason("login.live.com")
    assert keys.is_shared_cdn("cdn.jsdelivr.net") and not keys.is_shared_cdn("jsdelivr.example")


def test_exact_tags_never_collide() -> None:
    tag = keys.ExactTagger()
    tags = [tag(f"site{i}.example") for i in range(100_000)]
    assert len(set(tags)) == 100_000
    assert tag("site7.example") == tags[7]  # the same site keeps its tag


def test_site_tags_are_keyed_and_16_bit() -> None:
    a, b = keys.site_tagger(b"a" * 32), keys.site_tagger(b"b" * 32)
    assert 0 <= a("news.example") < 1 << 16
    assert a("news.example") == a("news.example")
    tags = {a(f"site{i}.example") for i in range(200)}
    assert len(tags) > 190  # almost no collisions among 200 sites
    assert sum(a(f"s{i}.example") == b(f"s{i}.example") for i in range(200)) < 5
