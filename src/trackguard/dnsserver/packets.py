"""DNS messages in and out: strict reading of queries and answers, the answers we build.

The wire format is dnspython's (a well-kept implementation that already refuses
compression-pointer loops, over-long names and truncated records); this module adds the
rules a forwarder facing hostile clients and upstreams needs on top of it:

- a query is one question, opcode QUERY, not a response; anything else gets FORMERR or
  NOTIMP when its header can be read, and nothing when it cannot;
- an upstream answer is used only if it answers the exact question we sent (ID, QR, name,
  type, class: `Message.is_response`), so a stray or forged packet can neither answer a
  client nor enter the cache;
- answers to a client respect its UDP size (512 bytes without EDNS, its advertised size
  up to 1,232 with it) and set TC when they do not fit, so the client retries over TCP.

Pure: bytes and messages in, bytes and messages out. No sockets, no clock.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

#: Longest CNAME chain we follow (resolvers stop at 8-16; a loop must not spin).
MAX_CHAIN = 16
#: TTL of the answers we make up for blocked names (Pi-hole uses 2 s): a user who allows
#: the name sees it resolve again almost at once.
BLOCK_TTL = 2
#: Largest UDP answer we send (DNS flag day 2020: avoids IP fragmentation).
MAX_UDP = 1232
#: Largest message over TCP (two-byte length prefix).
MAX_TCP = 65535
#: The longest explanation carried in an Extended DNS Error (RFC 8914) text.
MAX_EDE_TEXT = 240
#: Never cache an answer longer than a day, whatever its TTL says.
MAX_CACHE_TTL = 86400


class BadPacket(Exception):
    """A message we will not use: malformed, or not an answer to what we asked."""


class BlockAnswer(enum.Enum):
    """How a blocked name is answered (Pi-hole's default is the null address)."""

    NULL = "null"  # A 0.0.0.0 / AAAA ::, NODATA for other types
    NXDOMAIN = "nxdomain"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Question:
    """The one question of a query, normalised: lower-case text without the final dot."""

    name: str
    qtype: int
    qclass: int

    @property
    def type_name(self) -> str:
        return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(self.qtype))


def parse_query(wire: bytes) -> dns.message.Message:
    """Read a client's query; `BadPacket` when it is not one we can answer normally.

    The caller answers `error_reply(wire, ...)` on `BadPacket`, which needs only the header.
    """
    if len(wire) < 12 or len(wire) > MAX_TCP:
        raise BadPacket("size")
    try:
        msg = dns.message.from_wire(wire)
    except Exception as exc:  # dnspython raises many types on hostile bytes; none may escape
        raise BadPacket(f"malformed: {type(exc).__name__}") from exc
    if msg.flags & dns.flags.QR:
        raise BadPacket("a response, not a query")
    if msg.opcode() != dns.opcode.QUERY:
        raise BadPacket("opcode")
    if len(msg.question) != 1 or msg.answer or msg.authority:
        raise BadPacket("not exactly one question")
    return msg


def error_reply(wire: bytes, rcode: dns.rcode.Rcode) -> bytes | None:
    """A bare header answer (FORMERR, NOTIMP, REFUSED, SERVFAIL) echoing the query's ID.

    Built from the header bytes alone, since the rest may be unreadable; None when there
    is no header or the packet is itself a response (never answer a response: that is how
    two servers are made to ping-pong).
    """
    if len(wire) < 12:
        return None
    ident, flags = struct.unpack_from("!HH", wire)
    if flags & 0x8000:
        return None
    opcode_bits = flags & 0x7800
    rd = flags & 0x0100
    return struct.pack(
        "!HHHHHH", ident, 0x8000 | opcode_bits | rd | 0x0080 | int(rcode), 0, 0, 0, 0
    )


def question_of(msg: dns.message.Message) -> Question:
    rrset = msg.question[0]
    name = rrset.name.to_text(omit_final_dot=True).lower()
    return Question(name if name != "@" else "", int(rrset.rdtype), int(rrset.rdclass))


def dnssec_ok(msg: dns.message.Message) -> bool:
    return bool(msg.ednsflags & dns.flags.DO)


def upstream_query(question: Question, *, dnssec: bool) -> dns.message.Message:
    """The query we send upstream: the client's question only, with our own EDNS and ID.

    The client's other EDNS options (client subnet, cookies, padding) are not passed on.
    """
    return dns.message.make_query(
        dns.name.from_text(question.name or "."),
        dns.rdatatype.RdataType.make(question.qtype),
        dns.rdataclass.RdataClass.make(question.qclass),
        use_edns=0,
        payload=MAX_UDP,
        want_dnssec=dnssec,
    )


def check_answer(sent: dns.message.Message, wire: bytes) -> dns.message.Message:
    """Parse an upstream answer and make sure it answers `sent` (ID, flags, question)."""
    try:
        answer = dns.message.from_wire(wire)
    except dns.message.Truncated:
        # A TC answer may stop mid-record; its header is enough to ask again over TCP.
        answer = dns.message.from_wire(wire, question_only=True)
        answer.flags |= dns.flags.TC
    except Exception as exc:
        raise BadPacket(f"malformed answer: {type(exc).__name__}") from exc
    if not sent.is_response(answer):
        raise BadPacket("answer does not match the question")
    return answer


def cname_chain(answer: dns.message.Message, question: Question) -> list[str]:
    """The names the question's name is an alias for, in order, as the answer states them."""
    chain: list[str] = []
    name = dns.name.from_text(question.name or ".")
    seen = {name}
    for _ in range(MAX_CHAIN):
        rrset = _find(answer, name, question.qclass, dns.rdatatype.CNAME)
        if rrset is None or not len(rrset):
            break
        target = rrset[0].target
        if target in seen:
            break
        seen.add(target)
        chain.append(target.to_text(omit_final_dot=True).lower())
        name = target
    return chain


def _find(
    msg: dns.message.Message, name: dns.name.Name, rdclass: int, rdtype: int
) -> dns.rrset.RRset | None:
    for rrset in msg.answer:
        if rrset.name == name and rrset.rdtype == rdtype and rrset.rdclass == rdclass:
            return rrset
    return None


def cache_ttl(answer: dns.message.Message) -> int | None:
    """How long an upstream answer may be reused, or None for "do not cache".

    Positive answers: the smallest TTL of the answer section. Negative answers (NXDOMAIN,
    or NOERROR with no answer: NODATA): the SOA's TTL capped by its MINIMUM field, as RFC
    2308 §5 says; without an SOA a negative answer is not cached (§5, "SHOULD NOT").
    SERVFAIL, REFUSED, truncated answers: never cached.
    """
    if answer.flags & dns.flags.TC:
        return None
    rcode = answer.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return None
    if rcode == dns.rcode.NOERROR and answer.answer:
        return min(min(r.ttl for r in answer.answer), MAX_CACHE_TTL)
    for rrset in answer.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return min(int(rrset.ttl), int(rrset[0].minimum), MAX_CACHE_TTL)
    return None


def client_reply(
    query: dns.message.Message, answer: dns.message.Message, *, age: int = 0
) -> dns.message.Message:
    """The answer for our client: upstream's sections under the client's ID and flags.

    `age`: seconds the answer spent in the cache; every TTL is lowered by it (RFC 1035
    §7.3 / RFC 2308 §5), never below zero.
    """
    reply = _response(query)
    reply.set_rcode(answer.rcode())
    if answer.flags & dns.flags.AD and (dnssec_ok(query) or query.flags & dns.flags.AD):
        reply.flags |= dns.flags.AD
    for source, target in (
        (answer.answer, reply.answer),
        (answer.authority, reply.authority),
        (answer.additional, reply.additional),
    ):
        for rrset in source:
            copy = rrset.copy() if age else rrset  # type: ignore[no-untyped-call]
            if age:
                copy.ttl = max(0, rrset.ttl - age)
            target.append(copy)
    return reply


def blocked_reply(
    query: dns.message.Message, question: Question, mode: BlockAnswer, explanation: str
) -> dns.message.Message:
    """The made-up answer for a blocked name, with an Extended DNS Error if EDNS was used.

    RFC 8914 code 15 ("Blocked") carries the explanation (rule, list, line, cloaking chain)
    so `dig` shows the user why, as the proxy's blocked pages do.
    """
    reply = _response(query)
    if mode is BlockAnswer.NXDOMAIN:
        reply.set_rcode(dns.rcode.NXDOMAIN)
    elif mode is BlockAnswer.REFUSED:
        reply.set_rcode(dns.rcode.REFUSED)
    elif question.qclass == dns.rdataclass.IN and question.qtype in (
        dns.rdatatype.A,
        dns.rdatatype.AAAA,
    ):
        address = "0.0.0.0" if question.qtype == dns.rdatatype.A else "::"
        reply.answer.append(
            dns.rrset.from_text(
                query.question[0].name,
                BLOCK_TTL,
                dns.rdataclass.RdataClass.make(question.qclass),
                dns.rdatatype.RdataType.make(question.qtype),
                address,
            )
        )
    if query.edns >= 0:
        text = explanation[:MAX_EDE_TEXT]
        reply.use_edns(
            0, payload=MAX_UDP, options=[dns.edns.EDEOption(dns.edns.EDECode.BLOCKED, text)]
        )
    return reply


def status_reply(query: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
    """An answer with only a status (SERVFAIL when every upstream failed, REFUSED...)."""
    reply = _response(query)
    reply.set_rcode(rcode)
    return reply


def _response(query: dns.message.Message) -> dns.message.Message:
    reply = dns.message.make_response(query, recursion_available=True, our_payload=MAX_UDP)
    # make_response mirrors EDNS when the client used it; it must never add it otherwise.
    return reply


def to_wire(reply: dns.message.Message, query: dns.message.Message, *, udp: bool) -> bytes:
    """Encode for the client's transport; over UDP, truncate (TC) past the client's size."""
    if udp:
        limit = 512 if query.edns < 0 else max(512, min(query.payload, MAX_UDP))
        return reply.to_wire(max_size=limit, prefer_truncation=True)
    try:
        return reply.to_wire(max_size=MAX_TCP)
    except dns.exception.TooBig:
        return status_reply(query, dns.rcode.SERVFAIL).to_wire()
