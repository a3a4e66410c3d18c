"""The DNS forwarder against a real upstream (dnsmasq) and a real client (dig).

Blocked, allowed, cloaked, AAAA, TCP fallback, upstream down and back, a per-host allow,
the decision log; then hostile upstreams (answers that do not match the question) and
hostile clients (arbitrary bytes, hypothesis) that must never raise out of the server.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator

import dns.message
import dns.rcode
import pytest
from dns.rdataclass import IN
from dns.rdatatype import AAAA, A
from dns_helpers import LIST_TEXT, Dnsmasq, ServerThread, dig, free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trackguard.dnsserver.cache import AnswerCache
from trackguard.dnsserver.packets import BlockAnswer
from trackguard.dnsserver.server import DnsLimits, DnsOptions, DnsServer
from trackguard.dnsserver.service import DnsState
from trackguard.engine import Engine
from trackguard.policy.decide import PolicyConfig
from trackguard.proxy.log import DecisionLog, read_log


class Sink:
    """Collects what the server logs (the real DecisionLog is tested below)."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []

    def add_fields(self, *fields: object) -> None:
        self.rows.append(fields)


def _server(upstream: str, **options: object) -> tuple[ServerThread, DnsState, Sink]:
    host, _, port = upstream.rpartition(":")
    state = DnsState(Engine.from_text(LIST_TEXT, list_id="test.tpl"), PolicyConfig())
    sink = Sink()
    opts = DnsOptions(
        listen=("127.0.0.1", 0),
        upstreams=((host, int(port)),),
        limits=DnsLimits(upstream_timeout=1.0),
        **options,  # type: ignore[arg-type]
    )
    return ServerThread(DnsServer(state, opts, log=sink)), state, sink


@pytest.fixture(scope="module")
def running(dnsmasq: Dnsmasq) -> Iterator[tuple[ServerThread, DnsState, Sink]]:
    thread, state, sink = _server(dnsmasq.address)
    yield thread, state, sink
    thread.close()


def test_plain_name_is_forwarded(running: tuple[ServerThread, DnsState, Sink]) -> None:
    thread, _, _ = running
    assert dig(thread.address, "news.test", "+short").split() == ["127.0.0.2"]


def test_listed_name_is_blocked_and_never_leaves(
    running: tuple[ServerThread, DnsState, Sink], dnsmasq: Dnsmasq
) -> None:
    thread, _, sink = running
    out = dig(thread.address, "tracker.test")
    assert "0.0.0.0" in out and "status: NOERROR" in out
    # RFC 8914 Extended DNS Error 15 (Blocked) with the rule and its list:line.
    assert "EDE: 15 (Blocked)" in out and "-d tracker.test (test.tpl:2)" in out
    aaaa = dig(thread.address, "tracker.test", "AAAA", "+short")
    assert aaaa.split() == ["::"]
    assert dnsmasq.queries("tracker.test") == 0
    assert any(row[1:3] == ("dns", "block") and row[6] == "tracker.test" for row in sink.rows)


def test_subdomain_of_listed_name_blocked(running: tuple[ServerThread, DnsState, Sink]) -> None:
    thread, _, _ = running
    assert dig(thread.address, "pixel.tracker.test", "+short").split() == ["0.0.0.0"]


def test_cloaked_tracker_is_uncloaked(
    running: tuple[ServerThread, DnsState, Sink],
) -> None:
    thread, _, sink = running
    out = dig(thread.address, "metrics.news.test")
    assert "0.0.0.0" in out and "127.0.0.5" not in out
    assert "cloaked: metrics.news.test -> news-test.trackercdn.test" in out
    assert "-d trackercdn.test (test.tpl:3)" in out
    row = next(r for r in sink.rows if r[6] == "metrics.news.test")
    assert row[2] == "block" and row[7] == "-d trackercdn.test"
    assert row[10] == "cname:metrics.news.test > news-test.trackercdn.test"


def test_harmless_alias_passes(running: tuple[ServerThread, DnsState, Sink]) -> None:
    thread, _, _ = running
    assert dig(thread.address, "alias.news.test", "+short").split() == [
        "cdn.news.test.",
        "127.0.0.3",
    ]


def test_nxdomain_passes_through(running: tuple[ServerThread, DnsState, Sink]) -> None:
    thread, _, _ = running
    assert "status: NXDOMAIN" in dig(thread.address, "missing.test")


def test_tcp_fallback_for_large_answers(running: tuple[ServerThread, DnsState, Sink]) -> None:
    thread, _, _ = running
    out = dig(thread.address, "big.test", "+noedns")
    assert "Truncated, retrying in TCP mode" in out
    assert "ANSWER: 60" in out
    assert "ANSWER: 60" in dig(thread.address, "big.test", "+tcp")


def test_user_allow_and_per_site_switch(running: tuple[ServerThread, DnsState, Sink]) -> None:
    thread, state, _ = running
    saved = state.config
    try:
        state.config = PolicyConfig(user_allow=frozenset({"tracker.test"}))
        assert dig(thread.address, "tracker.test", "+short").split() == ["127.0.0.6"]
        # Allowing the tracker behind an alias lets the cloaked name resolve too.
        state.config = PolicyConfig(user_allow=frozenset({"metrics.news.test"}))
        assert "127.0.0.5" in dig(thread.address, "metrics.news.test", "+short")
        state.config = PolicyConfig(user_block=frozenset({"news.test"}))
        assert dig(thread.address, "news.test", "+short").split() == ["0.0.0.0"]
    finally:
        state.config = saved
    assert dig(thread.address, "tracker.test", "+short").split() == ["0.0.0.0"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(BlockAnswer.NXDOMAIN, "status: NXDOMAIN"), (BlockAnswer.REFUSED, "status: REFUSED")],
)
def test_block_answer_modes(dnsmasq: Dnsmasq, mode: BlockAnswer, expected: str) -> None:
    thread, _, _ = _server(dnsmasq.address, block_answer=mode)
    try:
        out = dig(thread.address, "tracker.test")
        assert expected in out and "0.0.0.0" not in out
    finally:
        thread.close()


def test_cache_serves_repeat_and_lowers_ttl(dnsmasq: Dnsmasq) -> None:
    now = [1000.0]
    host, _, port = dnsmasq.address.rpartition(":")
    state = DnsState(Engine.from_text(LIST_TEXT, list_id="test.tpl"), PolicyConfig())
    opts = DnsOptions(listen=("127.0.0.1", 0), upstreams=((host, int(port)),))
    thread = ServerThread(DnsServer(state, opts, clock=lambda: now[0]))
    try:
        before = dnsmasq.queries("cdn.news.test")
        first = dig(thread.address, "cdn.news.test", "+noall", "+answer").split()
        assert first[1] == "60" and first[-1] == "127.0.0.3"
        now[0] += 45
        second = dig(thread.address, "cdn.news.test", "+noall", "+answer").split()
        assert second[1] == "15" and second[-1] == "127.0.0.3"
        assert dnsmasq.queries("cdn.news.test") == before + 1
        now[0] += 16  # expired: asked again
        assert "127.0.0.3" in dig(thread.address, "cdn.news.test", "+short")
        assert dnsmasq.queries("cdn.news.test") == before + 2
    finally:
        thread.close()


def test_upstream_down_servfail_then_recovers(tmp_path_factory: pytest.TempPathFactory) -> None:
    upstream = Dnsmasq(tmp_path_factory.mktemp("flaky"))
    upstream.start()
    thread, _, _ = _server(upstream.address)
    try:
        assert "127.0.0.2" in dig(thread.address, "news.test", "+short")
        upstream.stop()
        assert "status: SERVFAIL" in dig(thread.address, "cdn.news.test", timeout=5)
        upstream.start()
        assert "127.0.0.3" in dig(thread.address, "cdn.news.test", "+short", timeout=5)
    finally:
        thread.close()
        upstream.stop()


def test_second_upstream_used_when_first_is_silent(dnsmasq: Dnsmasq) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    host, _, port = dnsmasq.address.rpartition(":")
    state = DnsState(Engine.from_text(LIST_TEXT, list_id="test.tpl"), PolicyConfig())
    opts = DnsOptions(
        listen=("127.0.0.1", 0),
        upstreams=(("127.0.0.1", silent.getsockname()[1]), (host, int(port))),
        limits=DnsLimits(upstream_timeout=0.5),
    )
    thread = ServerThread(DnsServer(state, opts))
    try:
        assert "127.0.0.2" in dig(thread.address, "news.test", "+short", timeout=5)
    finally:
        thread.close()
        silent.close()


def test_refuses_non_loopback_clients_and_self_loops(dnsmasq: Dnsmasq) -> None:
    state = DnsState(Engine.from_text(LIST_TEXT), PolicyConfig())
    server = DnsServer(state, DnsOptions(upstreams=(("127.0.0.1", 53),)))
    assert server.client_allowed("127.0.0.1") and server.client_allowed("::ffff:127.0.0.1")
    assert not server.client_allowed("192.0.2.1") and not server.client_allowed("garbage")
    with pytest.raises(ValueError, match="loop"):
        DnsServer(state, DnsOptions(listen=("127.0.0.1", 53), upstreams=(("127.0.0.1", 53),)))


def test_decision_log_keeps_blocked_names_only(dnsmasq: Dnsmasq, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = DecisionLog(tmp_path / "log.sqlite3", flush_seconds=0.05)
    host, _, port = dnsmasq.address.rpartition(":")
    state = DnsState(Engine.from_text(LIST_TEXT, list_id="test.tpl"), PolicyConfig())
    opts = DnsOptions(listen=("127.0.0.1", 0), upstreams=((host, int(port)),))
    thread = ServerThread(DnsServer(state, opts, log=log))
    try:
        dig(thread.address, "tracker.test")
        dig(thread.address, "news.test")
    finally:
        thread.close()
    log.flush_now()
    rows = read_log(tmp_path / "log.sqlite3")
    hosts = {(r.kind, r.action, r.host) for r in rows}
    assert ("dns", "block", "tracker.test") in hosts
    assert not any(r.host == "news.test" for r in rows)


# -- hostile upstreams ----------------------------------------------------------------------


class HostileUpstream:
    """A UDP 'resolver' that first sends forged answers, then (optionally) the real one."""

    def __init__(self, forge: list[str]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.forge = forge
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            for kind in self.forge:
                self.sock.sendto(self._forged(query, kind), addr)
            reply = dns.message.make_response(query)
            reply.answer.append(
                dns.rrset.from_text(query.question[0].name, 300, "IN", "A", "192.0.2.10")
            )
            self.sock.sendto(reply.to_wire(), addr)

    @staticmethod
    def _forged(query: dns.message.Message, kind: str) -> bytes:
        if kind == "loop":  # header + a question whose name points at itself
            return (
                struct.pack("!HHHHHH", query.id, 0x8180, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"
            )
        if kind == "garbage":
            return struct.pack("!H", query.id) + b"\xff" * 40
        reply = dns.message.make_response(query)
        name = query.question[0].name
        if kind == "id":
            reply.id = (query.id + 1) % 65536
        if kind == "name":
            reply.question[0] = dns.rrset.RRset(dns.name.from_text("evil.test"), IN, A)
            name = dns.name.from_text("evil.test")
        rtype = "AAAA" if kind == "type" else "A"
        if kind == "type":
            reply.question[0] = dns.rrset.RRset(query.question[0].name, IN, AAAA)
        reply.answer.append(
            dns.rrset.from_text(name, 300, "IN", rtype, "::66" if rtype == "AAAA" else "192.0.2.66")
        )
        return reply.to_wire()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def test_forged_answers_never_answer_nor_poison() -> None:
    upstream = HostileUpstream(["id", "name", "type", "loop", "garbage"])
    state = DnsState(Engine.from_text(LIST_TEXT), PolicyConfig())
    opts = DnsOptions(listen=("127.0.0.1", 0), upstreams=(("127.0.0.1", upstream.port),))
    thread = ServerThread(DnsServer(state, opts))
    try:
        for _ in range(2):  # the second answer comes from the cache
            out = dig(thread.address, "site.test", "+short")
            assert out.split() == ["192.0.2.10"]
        assert len(thread.server.cache) == 1
        assert thread.server.cache.hits + thread.server.fast.hits == 1
    finally:
        thread.close()
        upstream.close()


# -- hostile clients ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def offline_server() -> Iterator[tuple[DnsServer, asyncio.AbstractEventLoop]]:
    """A server whose only upstream is a closed port: every forward fails fast."""
    state = DnsState(Engine.from_text(LIST_TEXT), PolicyConfig())
    opts = DnsOptions(
        listen=("127.0.0.1", 0),
        upstreams=(("127.0.0.1", free_port()),),
        limits=DnsLimits(upstream_timeout=0.2),
    )
    thread = ServerThread(DnsServer(state, opts, cache=AnswerCache()))
    yield thread.server, thread.loop
    thread.close()


_QUERY = dns.message.make_query("tracker.test", "A").to_wire()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=600),
        # mutations of a real query: flipped bytes, cut, extended
        st.builds(
            lambda i, b, cut: (_QUERY[:i] + bytes([b]) + _QUERY[i + 1 :])[:cut],
            st.integers(0, len(_QUERY) - 1),
            st.integers(0, 255),
            st.integers(0, len(_QUERY)),
        ),
        st.builds(lambda tail: _QUERY + tail, st.binary(max_size=64)),
    )
)
def test_arbitrary_bytes_never_raise(
    offline_server: tuple[DnsServer, asyncio.AbstractEventLoop], data: bytes
) -> None:
    server, loop = offline_server
    for udp in (True, False):
        reply = asyncio.run_coroutine_threadsafe(server.answer(data, udp=udp), loop).result(10)
        if reply is None:
            continue
        parsed = dns.message.from_wire(reply, question_only=True)
        assert parsed.flags & 0x8000  # always a response, never a query bounced back
        if udp:
            assert len(reply) <= 1232


def test_bad_queries_get_formerr_or_notimp(
    offline_server: tuple[DnsServer, asyncio.AbstractEventLoop],
) -> None:
    server, loop = offline_server

    def ask(data: bytes) -> bytes | None:
        return asyncio.run_coroutine_threadsafe(server.answer(data, udp=True), loop).result(10)

    header = struct.pack("!HHHHHH", 0x1234, 0x0100, 2, 0, 0, 0)  # two questions: unparsable
    reply = ask(header)
    assert reply is not None and dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR
    notify = bytearray(_QUERY)
    notify[2] = (notify[2] & 0x87) | (4 << 3)  # opcode NOTIFY
    reply = ask(bytes(notify))
    assert reply is not None and dns.message.from_wire(reply).rcode() == dns.rcode.NOTIMP
    response = bytearray(_QUERY)
    response[2] |= 0x80  # a response: never answered
    assert ask(bytes(response)) is None
    assert ask(b"\x00" * 5) is None
