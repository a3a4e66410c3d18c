"""The answer cache: expiry, least-recently-used eviction, and both bounds."""

from __future__ import annotations

import dns.message

from trackguard.dnsserver.cache import AnswerCache
from trackguard.dnsserver.packets import Question

ANSWER = dns.message.make_response(dns.message.make_query("a.test", "A"))


def _key(name: str) -> tuple[Question, bool]:
    return (Question(name, 1, 1), False)


def test_expiry_and_zero_ttl() -> None:
    cache = AnswerCache()
    cache.put(_key("a.test"), ANSWER, 10, 100, now=0.0)
    cache.put(_key("b.test"), ANSWER, 0, 100, now=0.0)
    assert cache.get(_key("a.test"), 9.9) is not None
    assert cache.get(_key("a.test"), 10.0) is None
    assert cache.get(_key("b.test"), 0.0) is None
    assert len(cache) == 0 and cache.bytes == 0


def test_dnssec_bit_is_part_of_the_key() -> None:
    cache = AnswerCache()
    cache.put(_key("a.test"), ANSWER, 10, 100, now=0.0)
    assert cache.get((Question("a.test", 1, 1), True), 1.0) is None


def test_entry_bound_evicts_least_recently_used() -> None:
    cache = AnswerCache(max_entries=2)
    cache.put(_key("a.test"), ANSWER, 60, 10, now=0.0)
    cache.put(_key("b.test"), ANSWER, 60, 10, now=0.0)
    assert cache.get(_key("a.test"), 1.0) is not None  # a is now the most recent
    cache.put(_key("c.test"), ANSWER, 60, 10, now=1.0)
    assert cache.get(_key("b.test"), 1.0) is None
    assert cache.get(_key("a.test"), 1.0) is not None and len(cache) == 2


def test_byte_bound_holds_whatever_upstream_sends() -> None:
    cache = AnswerCache(max_entries=10**6, max_bytes=10_000)
    for i in range(1000):
        cache.put(_key(f"n{i}.test"), ANSWER, 86400, 600, now=0.0)
        assert cache.bytes <= 10_000
    assert len(cache) == 10_000 // 600
    cache.put(_key("huge.test"), ANSWER, 60, 20_000, now=0.0)  # larger than the whole cache
    assert cache.get(_key("huge.test"), 0.0) is None
