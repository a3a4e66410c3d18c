"""Strict reading of queries and answers; the answers the server makes up."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from trackguard.dnsserver.packets import (
    BadPacket,
    BlockAnswer,
    blocked_reply,
    cache_ttl,
    check_answer,
    client_reply,
    cname_chain,
    parse_query,
    question_of,
    to_wire,
    upstream_query,
)


def _query(name: str = "Tracker.Test", rtype: str = "A", **kw: object) -> dns.message.Message:
    return parse_query(dns.message.make_query(name, rtype, **kw).to_wire())  # type: ignore[arg-type]


def test_question_is_normalised() -> None:
    q = question_of(_query("WWW.Example.TEST."))
    assert (q.name, q.type_name) == ("www.example.test", "A")


def _response_wire() -> bytes:
    query = dns.message.make_query("a.test", "A")
    query.id = 0x1234  # fixed: test ids must not change between collections (pytest-xdist)
    return dns.message.make_response(query).to_wire()


@pytest.mark.parametrize(
    "wire",
    [b"", b"\x00" * 11, _response_wire()],
    ids=["empty", "short", "a-response"],
)
def test_non_queries_are_refused(wire: bytes) -> None:
    with pytest.raises(BadPacket):
        parse_query(wire)


def test_answer_must_match_question() -> None:
    sent = upstream_query(question_of(_query()), dnssec=False)
    good = dns.message.make_response(sent)
    assert check_answer(sent, good.to_wire()).id == sent.id
    other = dns.message.make_response(dns.message.make_query("evil.test", "A", id=sent.id))
    with pytest.raises(BadPacket):
        check_answer(sent, other.to_wire())
    wrong_id = dns.message.make_response(sent)
    wrong_id.id ^= 1
    with pytest.raises(BadPacket):
        check_answer(sent, wrong_id.to_wire())


def test_upstream_query_drops_client_edns_options() -> None:
    client = _query(
        use_edns=0,
        options=[dns.edns.GenericOption(dns.edns.OptionType.ECS, b"\x00\x01\x18\x00\x0a\x00\x00")],
    )
    sent = upstream_query(question_of(client), dnssec=False)
    assert not sent.options and sent.payload == 1232


def _answer(sent: dns.message.Message, *records: tuple[str, int, str, str]) -> dns.message.Message:
    reply = dns.message.make_response(sent)
    for name, ttl, rtype, value in records:
        reply.answer.append(dns.rrset.from_text(name, ttl, "IN", rtype, value))
    return reply


def test_cname_chain_in_order_and_loop_safe() -> None:
    q = _query("metrics.news.test")
    reply = _answer(
        q,
        ("metrics.news.test.", 60, "CNAME", "a.cdn.test."),
        ("a.cdn.test.", 60, "CNAME", "b.tracker.test."),
        ("b.tracker.test.", 60, "A", "192.0.2.1"),
    )
    assert cname_chain(reply, question_of(q)) == ["a.cdn.test", "b.tracker.test"]
    looped = _answer(
        q,
        ("metrics.news.test.", 60, "CNAME", "x.test."),
        ("x.test.", 60, "CNAME", "metrics.news.test."),
    )
    assert cname_chain(looped, question_of(q)) == ["x.test"]


def test_cache_ttl_positive_negative_and_uncacheable() -> None:
    q = _query("a.test")
    assert (
        cache_ttl(_answer(q, ("a.test.", 300, "A", "192.0.2.1"), ("a.test.", 30, "A", "192.0.2.2")))
        == 30
    )
    negative = dns.message.make_response(q)
    negative.set_rcode(dns.rcode.NXDOMAIN)
    assert cache_ttl(negative) is None  # no SOA: not cached (RFC 2308 §5)
    negative.authority.append(
        dns.rrset.from_text("test.", 3600, "IN", "SOA", "ns.test. host.test. 1 2 3 4 120")
    )
    assert cache_ttl(negative) == 120  # SOA TTL capped by MINIMUM
    nodata = dns.message.make_response(q)
    nodata.authority.append(dns.rrset.from_text("test.", 50, "IN", "SOA", "ns. h. 1 2 3 4 120"))
    assert cache_ttl(nodata) == 50
    servfail = dns.message.make_response(q)
    servfail.set_rcode(dns.rcode.SERVFAIL)
    assert cache_ttl(servfail) is None
    huge = _answer(q, ("a.test.", 10**7, "A", "192.0.2.1"))
    assert cache_ttl(huge) == 86400


def test_client_reply_lowers_ttls_by_age_without_touching_the_cached_copy() -> None:
    q = _query("a.test")
    cached = _answer(q, ("a.test.", 300, "A", "192.0.2.1"))
    aged = client_reply(q, cached, age=100)
    assert aged.answer[0].ttl == 200 and cached.answer[0].ttl == 300
    assert client_reply(q, cached, age=1000).answer[0].ttl == 0


@pytest.mark.parametrize(
    ("rtype", "mode", "rcode", "answers"),
    [
        ("A", BlockAnswer.NULL, dns.rcode.NOERROR, ["0.0.0.0"]),
        ("AAAA", BlockAnswer.NULL, dns.rcode.NOERROR, ["::"]),
        ("HTTPS", BlockAnswer.NULL, dns.rcode.NOERROR, []),  # NODATA: nothing to connect to
        ("A", BlockAnswer.NXDOMAIN, dns.rcode.NXDOMAIN, []),
        ("A", BlockAnswer.REFUSED, dns.rcode.REFUSED, []),
    ],
)
def test_blocked_reply(rtype: str, mode: BlockAnswer, rcode: int, answers: list[str]) -> None:
    q = _query("tracker.test", rtype, use_edns=0)
    reply = blocked_reply(q, question_of(q), mode, "tracker.test: blocked by -d tracker.test (x:2)")
    assert reply.rcode() == rcode
    assert [r.to_text() for rrset in reply.answer for r in rrset] == answers
    assert all(rrset.ttl == 2 for rrset in reply.answer)
    (ede,) = reply.options
    assert isinstance(ede, dns.edns.EDEOption) and ede.code == dns.edns.EDECode.BLOCKED
    assert "-d tracker.test (x:2)" in (ede.text or "")


def test_blocked_reply_without_edns_has_no_opt() -> None:
    q = _query("tracker.test")
    reply = blocked_reply(q, question_of(q), BlockAnswer.NULL, "why")
    assert reply.edns < 0


def test_udp_size_limits_and_truncation() -> None:
    q = _query("big.test")  # no EDNS: 512 bytes
    reply = _answer(q, *(("big.test.", 60, "A", f"10.0.0.{i}") for i in range(1, 61)))
    wire = to_wire(client_reply(q, reply), q, udp=True)
    assert len(wire) <= 512 and dns.message.from_wire(wire).flags & dns.flags.TC
    full = dns.message.from_wire(to_wire(client_reply(q, reply), q, udp=False))
    assert len(full.answer[0]) == 60 and not full.flags & dns.flags.TC
    q_edns = _query("big.test", use_edns=0, payload=4096)  # capped at 1232
    wire = to_wire(client_reply(q_edns, reply), q_edns, udp=True)
    assert len(wire) <= 1232 and not dns.message.from_wire(wire).flags & dns.flags.TC
