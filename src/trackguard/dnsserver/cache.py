"""The answer cache: TTLs honoured, negative answers cached (RFC 2308), bounded in size.

Keys are the question (name, type, class) and the DNSSEC-OK bit (an answer fetched without
signatures must not serve a client that asked for them). Values are validated upstream
answers with the time they arrived; the caller lowers their TTLs by their age when it
serves them. Policy is never cached here: blocking is decided again on every hit, so a
user's `allow` or a list update applies at once, not after a TTL.

Bounded twice: by entry count and by the wire size of what is stored; the least recently
used entry goes first. An upstream cannot grow the cache past its bounds, whatever TTLs or
answer sizes it sends. Pure: the clock is passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import dns.message

from trackguard.dnsserver.packets import Question

MAX_ENTRIES = 20_000
MAX_BYTES = 16 * 1024 * 1024

CacheKey = tuple[Question, bool]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    answer: dns.message.Message
    stored: float
    expires: float
    size: int


class AnswerCache:
    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[CacheKey, CacheEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey, now: float) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if now >= entry.expires:
            self._drop(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(
        self, key: CacheKey, answer: dns.message.Message, ttl: int, size: int, now: float
    ) -> None:
        """Store `answer` (of `size` wire bytes) for `ttl` seconds; TTL 0 is not stored."""
        if ttl <= 0 or size > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = CacheEntry(answer, now, now + ttl, size)
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def _drop(self, key: CacheKey) -> None:
        entry = self._entries.pop(key)
        self.bytes -= entry.size
