"""Repeat questions answered from bytes: no message objects on the hot path.

Most DNS traffic asks what was asked a moment ago. The first answer to a question goes
through the full path (`packets`, `decide`, the cache); its finished UDP reply is kept
here as a template with the offsets of its TTLs. The next identical query is recognised
from its raw bytes (one question, no compression, at most an OPT record) and answered by
copying the template under the query's ID and the query's own question bytes (resolvers
randomise letter case, "0x20", and check it comes back), with every TTL lowered by the
template's age.

A template is used only while the policy that produced it is the one in force (the same
engine and settings objects: `allow`, `site off` or a list update make new ones) and
while the answer's TTL lasts; anything unusual falls back to the full path. Bounded in
entries (each under 1,232 bytes). Pure: bytes in, bytes out; the clock is passed in.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_ENTRIES = 10_000
_HEADER = struct.Struct("!6H")
_OPT = 41

#: (question bytes lower-cased, UDP size limit (0: no EDNS), DO bit, the AD and CD bits)
FastKey = tuple[bytes, int, bool, int]


@dataclass(frozen=True, slots=True)
class FastQuery:
    key: FastKey
    question: bytes  # as the client sent it (case preserved)


@dataclass(frozen=True, slots=True)
class Template:
    wire: bytes
    question_length: int
    ttl_offsets: tuple[tuple[int, int], ...]  # (offset, original TTL)
    stored: float
    expires: float
    #: The engine and the settings that produced it (compared by identity).
    policy: tuple[object, object]
    #: What to record each time it is served (a blocked name's verdict), if anything.
    note: object = None


def read_query(data: bytes) -> FastQuery | None:
    """The cache key of a plain query, or None when it needs the full path."""
    if len(data) < 17:
        return None
    _, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    if flags & 0xF800 or qd != 1 or an or ns or ar > 1:  # QR=0, opcode QUERY
        return None
    pos = 12
    end = len(data)
    while True:
        if pos >= end:
            return None
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length > 63:  # compression pointers and reserved label types: full path
            return None
        pos += 1 + length
        if pos - 12 > 255:
            return None
    pos += 4
    if pos > end:
        return None
    question = data[12:pos]
    limit, dnssec = 512, False
    if ar:
        # Exactly one OPT record: root name, type 41, class = UDP size, TTL = flags.
        if pos + 11 > end or data[pos] != 0:
            return None
        rtype, payload, _ext, version, eflags, rdlen = struct.unpack_from("!HHBBHH", data, pos + 1)
        if rtype != _OPT or version != 0 or pos + 11 + rdlen != end:
            return None
        limit = max(512, min(payload, 1232))
        dnssec = bool(eflags & 0x8000)
    elif pos != end:
        return None
    return FastQuery((question.lower(), limit if ar else 0, dnssec, data[3] & 0x30), question)


def ttl_offsets(wire: bytes, question_length: int) -> tuple[tuple[int, int], ...] | None:
    """Where the TTLs of a reply's records are (OPT excluded), or None if unreadable."""
    try:
        _, _, _, an, ns, ar = _HEADER.unpack_from(wire)
        pos = 12 + question_length
        out: list[tuple[int, int]] = []
        for _ in range(an + ns + ar):
            while True:  # owner name: labels, ending in a zero byte or a pointer
                length = wire[pos]
                if length == 0:
                    pos += 1
                    break
                if length >= 0xC0:
                    pos += 2
                    break
                pos += 1 + length
            rtype, _cls, ttl, rdlen = struct.unpack_from("!HHIH", wire, pos)
            if rtype != _OPT:
                out.append((pos + 4, ttl))
            pos += 10 + rdlen
        if pos != len(wire):
            return None
        return tuple(out)
    except (struct.error, IndexError):
        return None


class FastCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.hits = 0
        self._entries: dict[FastKey, Template] = {}
        #: Query bytes after the ID -> their reading: a client repeats its questions byte
        #: for byte, so most queries skip `read_query` altogether.
        self._read: dict[bytes, FastQuery | None] = {}

    def read(self, data: bytes) -> FastQuery | None:
        """`read_query`, remembered by the query's bytes (ID excluded)."""
        body = data[2:]
        try:
            return self._read[body]
        except KeyError:
            pass
        query = read_query(data)
        if len(self._read) >= self.max_entries:
            self._read.pop(next(iter(self._read)))
        self._read[body] = query
        return query

    def __len__(self) -> int:
        return len(self._entries)

    def put(
        self,
        query: FastQuery,
        wire: bytes,
        *,
        now: float,
        ttl: float,
        policy: tuple[object, object],
        note: object = None,
    ) -> None:
        """Keep `wire` (the UDP reply to `query`) for `ttl` seconds under `policy`."""
        if ttl <= 0 or len(wire) < 12 + len(query.question):
            return
        if wire[12 : 12 + len(query.question)].lower() != query.key[0]:
            return
        offsets = ttl_offsets(wire, len(query.question))
        if offsets is None:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[query.key] = Template(
            wire, len(query.question), offsets, now, now + ttl, policy, note
        )

    def answer(
        self, data: bytes, query: FastQuery, *, now: float, policy: tuple[object, object]
    ) -> tuple[bytes, object] | None:
        """The reply to `data` from its template and the template's note, or None (miss,
        expired, or made under another policy)."""
        entry = self._entries.get(query.key)
        if entry is None:
            return None
        if (
            now >= entry.expires
            or entry.policy[0] is not policy[0]
            or entry.policy[1] is not policy[1]
        ):
            del self._entries[query.key]
            return None
        self.hits += 1
        out = bytearray(entry.wire)
        out[0:2] = data[0:2]
        out[2] = (out[2] & 0xFE) | (data[2] & 0x01)  # RD echoed from this query
        out[12 : 12 + entry.question_length] = query.question
        age = int(now - entry.stored)
        if age > 0:
            for offset, ttl in entry.ttl_offsets:
                struct.pack_into("!I", out, offset, max(0, ttl - age))
        return bytes(out), entry.note

    def clear(self) -> None:
        self._entries.clear()
        self._read.clear()
