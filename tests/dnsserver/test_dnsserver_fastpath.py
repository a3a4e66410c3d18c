"""The bytes fast path reads exactly what dnspython reads, and renders what the full path did."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.name
import dns.rrset
from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.dnsserver.fastpath import FastCache, read_query, ttl_offsets
from trackguard.dnsserver.packets import client_reply, parse_query, question_of, to_wire

_LABEL = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=20
)
_NAME = st.lists(_LABEL, min_size=1, max_size=5).map(".".join)


@settings(max_examples=300, deadline=None)
@given(_NAME, st.sampled_from(["A", "AAAA", "HTTPS", "TXT"]), st.booleans(), st.booleans())
def test_read_query_agrees_with_dnspython(name: str, rtype: str, edns: bool, do: bool) -> None:
    msg = dns.message.make_query(name, rtype, use_edns=0 if edns else None, want_dnssec=do and edns)
    wire = msg.to_wire()
    fast = read_query(wire)
    assert fast is not None
    parsed = parse_query(wire)
    q = question_of(parsed)
    # The key's question is the wire question, lower-cased: same name, type and class.
    name_end = len(fast.question) - 4
    key_name = dns.name.from_wire(fast.key[0], 0)[0]
    assert key_name.to_text(omit_final_dot=True).lower() == q.name
    assert struct.unpack("!HH", fast.question[name_end:]) == (q.qtype, q.qclass)
    assert fast.key[1] == (0 if not edns else 1232)
    assert fast.key[2] == (do and edns)


@given(st.binary(max_size=300))
def test_read_query_never_raises(data: bytes) -> None:
    read_query(data)


def test_unusual_queries_take_the_full_path() -> None:
    base = dns.message.make_query("a.test", "A").to_wire()
    assert read_query(base) is not None
    assert read_query(base + b"\x00") is None  # trailing bytes
    response = bytearray(base)
    response[2] |= 0x80
    assert read_query(bytes(response)) is None
    pointer = base[:12] + b"\xc0\x0c" + base[-4:]
    assert read_query(pointer) is None


def _reply_for(query_wire: bytes) -> bytes:
    query = parse_query(query_wire)
    answer = dns.message.make_response(query)
    answer.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", "192.0.2.7"))
    answer.additional.append(dns.rrset.from_text("ns.test.", 120, "IN", "A", "192.0.2.8"))
    return to_wire(client_reply(query, answer), query, udp=True)


def test_template_renders_under_the_new_id_case_and_age() -> None:
    cache = FastCache()
    policy = (object(), object())
    first = dns.message.make_query("Www.Example.Test", "A", use_edns=0, id=1).to_wire()
    fast = read_query(first)
    assert fast is not None
    cache.put(fast, _reply_for(first), now=100.0, ttl=120, policy=policy)
    # A resolver's 0x20 case randomisation: same key, the reply echoes this query's case.
    again = dns.message.make_query("wWW.eXample.tesT", "A", use_edns=0, id=4242).to_wire()
    fast_again = cache.read(again)
    assert fast_again is not None and fast_again.key == fast.key
    hit = cache.answer(again, fast_again, now=130.0, policy=policy)
    assert hit is not None
    reply = dns.message.from_wire(hit[0])
    assert reply.id == 4242 and reply.flags & dns.flags.QR
    assert reply.question[0].name.to_text() == "wWW.eXample.tesT."
    assert [r.ttl for r in reply.answer] == [270] and [r.ttl for r in reply.additional] == [90]
    # Another policy (an `allow`, a list update) or an expired TTL: back to the full path.
    assert cache.answer(again, fast_again, now=130.0, policy=(object(), policy[1])) is None
    cache.put(fast, _reply_for(first), now=100.0, ttl=120, policy=policy)
    assert cache.answer(again, fast_again, now=220.0, policy=policy) is None


def test_ttl_offsets_point_at_every_ttl() -> None:
    wire = _reply_for(dns.message.make_query("a.test", "A", use_edns=0).to_wire())
    fast = read_query(dns.message.make_query("a.test", "A", use_edns=0).to_wire())
    assert fast is not None
    offsets = ttl_offsets(wire, len(fast.question))
    assert offsets is not None
    assert [ttl for _, ttl in offsets] == [300, 120]
    for offset, ttl in offsets:
        assert struct.unpack_from("!I", wire, offset)[0] == ttl
    assert ttl_offsets(wire[:-3], len(fast.question)) is None


def test_bounded_entries() -> None:
    cache = FastCache(max_entries=3)
    policy = (object(), object())
    for i in range(10):
        wire = dns.message.make_query(f"n{i}.test", "A").to_wire()
        fast = cache.read(wire)
        assert fast is not None
        cache.put(fast, _reply_for(wire), now=0.0, ttl=60, policy=policy)
        assert len(cache) <= 3
