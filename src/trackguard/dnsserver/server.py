"""The DNS forwarder: UDP and TCP listeners, upstream queries, the cache. Moves packets.

One query goes: client ACL -> `packets.parse_query` -> `decide.decide_name` (a blocked
name is answered here and never leaves the machine) -> cache or upstream (UDP, then TCP
when the answer is truncated; the next upstream on timeout) -> `decide.uncloak` on the
answer's CNAME chain -> the client, sized for its transport. Every step that can fail on
hostile bytes answers FORMERR / SERVFAIL or drops the packet; nothing raises out of a
listener.

Safety: loopback clients only unless `allow_from` says otherwise, so this is never an open
resolver (an open resolver on a LAN or the internet is an amplification weapon); a packet
from a refused client gets no answer at all. Concurrent identical questions share one
upstream query; in-flight queries and TCP clients are capped.

This module decides nothing itself: it calls `decide` and `packets`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import secrets
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import dns.flags
import dns.message
import dns.rcode

from trackguard.dnsserver.cache import AnswerCache, CacheKey
from trackguard.dnsserver.decide import DnsVerdict, decide_name, uncloak
from trackguard.dnsserver.fastpath import FastCache, FastQuery
from trackguard.dnsserver.packets import (
    BadPacket,
    BlockAnswer,
    Question,
    blocked_reply,
    cache_ttl,
    check_answer,
    client_reply,
    cname_chain,
    dnssec_ok,
    error_reply,
    parse_query,
    question_of,
    status_reply,
    to_wire,
    upstream_query,
)
from trackguard.policy.decide import ListMatcher, PolicyConfig

logger = logging.getLogger("trackguard.dns")

Address = tuple[str, int]
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PolicyState(Protocol):
    """What the server reads per query; the service swaps these references as things change."""

    matcher: ListMatcher
    config: PolicyConfig


class DecisionSink(Protocol):
    """The decision log's cheap entry point (`proxy.log.DecisionLog.add_fields`)."""

    def add_fields(
        self,
        time: float,
        kind: str,
        action: str,
        layer: str,
        type: str,
        site: str,
        host: str,
        rule: str | None = None,
        list: str | None = None,
        line: int | None = None,
        url: str | None = None,
        count: int = 1,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class DnsLimits:
    #: Seconds to wait for one upstream before trying the next.
    upstream_timeout: float = 2.0
    #: Seconds a TCP client may stay idle between queries.
    tcp_idle: float = 10.0
    max_tcp_clients: int = 256
    #: Queries being answered at once; more are dropped (the client retries).
    max_inflight: int = 2048


@dataclass(frozen=True, slots=True)
class DnsOptions:
    listen: Address = ("127.0.0.1", 5353)
    upstreams: tuple[Address, ...] = ()
    allow_from: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    block_answer: BlockAnswer = BlockAnswer.NULL
    #: Log allowed names too (off: only blocked names are kept, as privacy asks).
    log_allowed: bool = False
    limits: DnsLimits = DnsLimits()


def parse_address(text: str, default_port: int = 53) -> Address:
    """`HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        host, port = text, default_port
    ipaddress.ip_address(host)  # upstreams and listen addresses are literal IPs
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    return host, port


def _networks(cidrs: Iterable[str]) -> list[_Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _client_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class _UdpUpstream(asyncio.DatagramProtocol):
    """One socket to one upstream; answers matched to queries by ID and question.

    A packet from another address, or one that does not answer a pending question, is
    ignored without disturbing the pending query (a forged packet cannot cancel the real
    answer, nor enter the cache).
    """

    def __init__(self, address: Address) -> None:
        self.address = address
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[
            int, tuple[dns.message.Message, asyncio.Future[dns.message.Message]]
        ] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if (addr[0], addr[1]) != self.address or len(data) < 12:
            return
        entry = self.pending.get(struct.unpack_from("!H", data)[0])
        if entry is None:
            return
        sent, future = entry
        try:
            answer = check_answer(sent, data)
        except BadPacket:
            return
        if not future.done():
            future.set_result(answer)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and friends: fail every pending query on this socket now
        # rather than after the timeout (the upstream is down).
        for _, future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError(str(exc)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.error_received(exc or ConnectionError("closed"))

    async def ask(self, query: dns.message.Message, timeout: float) -> dns.message.Message:
        if self.transport is None:
            raise ConnectionError("upstream socket closed")
        for _ in range(16):
            query.id = secrets.randbelow(65536)
            if query.id not in self.pending:
                break
        else:
            raise ConnectionError("too many queries in flight to this upstream")
        future: asyncio.Future[dns.message.Message] = asyncio.get_running_loop().create_future()
        self.pending[query.id] = (query, future)
        try:
            self.transport.sendto(query.to_wire())
            return await asyncio.wait_for(future, timeout)
        finally:
            self.pending.pop(query.id, None)


async def _ask_tcp(
    address: Address, query: dns.message.Message, timeout: float
) -> dns.message.Message:
    async def exchange() -> dns.message.Message:
        reader, writer = await asyncio.open_connection(*address)
        try:
            wire = query.to_wire()
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
            (size,) = struct.unpack("!H", await reader.readexactly(2))
            return check_answer(query, await reader.readexactly(size))
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.wait_for(exchange(), timeout)


#: How long the fast path may repeat a blocked answer (policy changes end it at once).
BLOCKED_TEMPLATE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class _Note:
    """What a fast-path hit records: the blocked name's verdict, as the full path did."""

    question: Question
    verdict: DnsVerdict
    action: str


class _UdpListener(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.server.on_datagram(self, data, (str(addr[0]), int(str(addr[1]))))

    def error_received(self, exc: Exception) -> None:
        pass  # a client's ICMP error: nothing to do, the listener stays up


class DnsServer:
    def __init__(
        self,
        state: PolicyState,
        options: DnsOptions,
        *,
        log: DecisionSink | None = None,
        cache: AnswerCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not options.upstreams:
            raise ValueError("at least one upstream DNS server is needed")
        if options.listen in options.upstreams:
            raise ValueError("an upstream is this server's own address: queries would loop")
        self.state = state
        self.options = options
        self.log = log
        self.cache = cache if cache is not None else AnswerCache()
        self.fast = FastCache()
        self._clients: dict[str, bool] = {}
        self.clock = clock
        self.address: Address | None = None
        self.stats = {"queries": 0, "blocked": 0, "cloaked": 0, "servfail": 0, "dropped": 0}
        self._networks = _networks(options.allow_from)
        self._udp: _UdpListener | None = None
        self._tcp: asyncio.Server | None = None
        self._upstreams: list[_UdpUpstream] = []
        self._first = 0  # index of the upstream that answered last
        self._inflight: dict[CacheKey, asyncio.Future[dns.message.Message | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp_clients = 0

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> Address:
        loop = asyncio.get_running_loop()
        host, port = self.options.listen
        for attempt in range(20):
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _UdpListener(self), local_addr=(host, port)
            )
            bound = transport.get_extra_info("sockname")
            try:
                # TCP on the same port as UDP (resolvers fall back to it on TC).
                self._tcp = await asyncio.start_server(self._serve_tcp, host, int(bound[1]))
            except OSError:
                transport.close()
                if port != 0 or attempt == 19:
                    raise
                continue  # port 0: the kernel's UDP choice is taken for TCP; pick again
            break
        self._udp = protocol
        self.address = (str(bound[0]), int(bound[1]))
        for address in self.options.upstreams:
            if address == self.address:
                raise ValueError("an upstream is this server's own address: queries would loop")
            _, upstream = await loop.create_datagram_endpoint(
                functools.partial(_UdpUpstream, address), remote_addr=address
            )
            self._upstreams.append(upstream)
        return self.address

    async def close(self) -> None:
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()
        for upstream in self._upstreams:
            if upstream.transport is not None:
                upstream.transport.close()
        for task in list(self._tasks):
            task.cancel()

    # -- transports ------------------------------------------------------------------------

    def client_allowed(self, host: str) -> bool:
        ip = _client_ip(host)
        return ip is not None and any(ip in net for net in self._networks)

    def on_datagram(self, listener: _UdpListener, data: bytes, addr: Address) -> None:
        client = self._clients.get(addr[0])
        if client is None:
            client = self.client_allowed(addr[0])
            if len(self._clients) < 4096:
                self._clients[addr[0]] = client
        if not client:
            self.stats["dropped"] += 1
            return
        fast = self.fast.read(data)
        if fast is not None:
            state = self.state
            hit = self.fast.answer(
                data, fast, now=self.clock(), policy=(state.matcher, state.config)
            )
            if hit is not None:
                reply, note = hit
                self.stats["queries"] += 1
                if isinstance(note, _Note):
                    self._record(note.question, note.verdict, note.action)
                    self.stats["blocked"] += 1
                if listener.transport is not None:
                    listener.transport.sendto(reply, addr)
                return
        if len(self._tasks) >= self.options.limits.max_inflight:
            self.stats["dropped"] += 1
            return
        task = asyncio.ensure_future(self._answer_datagram(listener, data, addr, fast))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_datagram(
        self, listener: _UdpListener, data: bytes, addr: Address, fast: FastQuery | None
    ) -> None:
        reply = await self.answer(data, udp=True, fast=fast)
        if reply is not None and listener.transport is not None:
            listener.transport.sendto(reply, addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        limits = self.options.limits
        if (
            not peer
            or not self.client_allowed(str(peer[0]))
            or self._tcp_clients >= limits.max_tcp_clients
        ):
            writer.close()
            return
        self._tcp_clients += 1
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), limits.tcp_idle)
                    (size,) = struct.unpack("!H", head)
                    data = await asyncio.wait_for(reader.readexactly(size), limits.tcp_idle)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                reply = await self.answer(data, udp=False)
                if reply is None:
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except Exception:
            logger.exception("DNS TCP client failed")
        finally:
            self._tcp_clients -= 1
            writer.close()

    # -- one query ---------------------------------------------------------------------------

    async def answer(
        self, wire: bytes, *, udp: bool, fast: FastQuery | None = None
    ) -> bytes | None:
        """The reply bytes for one query, or None to send nothing. Never raises.

        `fast`: the query's fast-path key (UDP only); the reply becomes its template.
        """
        self.stats["queries"] += 1
        try:
            query = parse_query(wire)
        except BadPacket as exc:
            rcode = dns.rcode.NOTIMP if str(exc) == "opcode" else dns.rcode.FORMERR
            return error_reply(wire, rcode)
        try:
            state = self.state
            policy = (state.matcher, state.config)
            reply, ttl, note = await self._reply(query)
            out = to_wire(reply, query, udp=udp)
            if fast is not None and ttl > 0 and not self.options.log_allowed:
                self.fast.put(fast, out, now=self.clock(), ttl=ttl, policy=policy, note=note)
            return out
        except Exception:
            logger.exception("DNS query failed")
            self.stats["servfail"] += 1
            return error_reply(wire, dns.rcode.SERVFAIL)

    async def _reply(
        self, query: dns.message.Message
    ) -> tuple[dns.message.Message, float, _Note | None]:
        """The reply, how long it may be served again as is, and what to log when it is."""
        question = question_of(query)
        state = self.state
        config, matcher = state.config, state.matcher
        first = decide_name(question.name, config=config, matcher=matcher)
        if first.blocked:
            return self._blocked(query, question, first)
        key: CacheKey = (question, dnssec_ok(query))
        now = self.clock()
        entry = self.cache.get(key, now)
        if entry is not None:
            answer, age, left = entry.answer, int(now - entry.stored), entry.expires - now
        else:
            fetched = await self._fetch(key)
            if fetched is None:
                self.stats["servfail"] += 1
                return status_reply(query, dns.rcode.SERVFAIL), 0.0, None
            answer, age = fetched, 0
            left = float(cache_ttl(answer) or 0)
        chain = cname_chain(answer, question)
        if chain:
            verdict = uncloak(first, chain, config=config, matcher=matcher)
            if verdict.blocked:
                self.stats["cloaked"] += 1
                reply, _, note = self._blocked(query, question, verdict)
                return reply, left, note  # valid while the chain that cloaked it is
        if self.options.log_allowed and self.log is not None:
            self._record(question, first, "allow")
        return client_reply(query, answer, age=age), left, None

    def _blocked(
        self, query: dns.message.Message, question: Question, verdict: DnsVerdict
    ) -> tuple[dns.message.Message, float, _Note]:
        self.stats["blocked"] += 1
        note = _Note(question, verdict, "block")
        if self.log is not None:
            self._record(question, verdict, "block")
        reply = blocked_reply(query, question, self.options.block_answer, verdict.explain())
        return reply, BLOCKED_TEMPLATE_SECONDS, note

    def _record(self, question: Question, verdict: DnsVerdict, action: str) -> None:
        if self.log is None:
            return
        v = verdict.verdict
        self.log.add_fields(
            self.clock(),
            "dns",
            action,
            v.layer.value,
            question.type_name.lower(),
            "",
            question.name,
            v.rule,
            v.list,
            v.line,
            # The only "URL" a name has: the alias chain that led to the tracker, if any.
            "cname:" + " > ".join(verdict.chain) if verdict.cloaked else None,
        )

    async def _fetch(self, key: CacheKey) -> dns.message.Message | None:
        """Ask upstream once for concurrent identical questions; cache what may be cached."""
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[dns.message.Message | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._inflight[key] = future
        try:
            answer = await self._ask_upstreams(*key)
            if answer is not None:
                ttl = cache_ttl(answer)
                if ttl:
                    self.cache.put(key, answer, ttl, len(answer.to_wire()), self.clock())
            future.set_result(answer)
            return answer
        except BaseException:
            future.set_result(None)
            raise
        finally:
            del self._inflight[key]

    async def _ask_upstreams(self, question: Question, dnssec: bool) -> dns.message.Message | None:
        timeout = self.options.limits.upstream_timeout
        count = len(self._upstreams)
        for step in range(count):
            index = (self._first + step) % count
            upstream = self._upstreams[index]
            try:
                answer = await upstream.ask(upstream_query(question, dnssec=dnssec), timeout)
                if answer.flags & dns.flags.TC:
                    answer = await _ask_tcp(
                        upstream.address, upstream_query(question, dnssec=dnssec), timeout
                    )
            except (TimeoutError, ConnectionError, OSError, BadPacket, EOFError) as exc:
                logger.debug("upstream %s failed: %s", upstream.address, exc)
                continue
            except asyncio.IncompleteReadError:
                continue
            if answer.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED) and step + 1 < count:
                continue
            self._first = index
            return answer
        return None


def upstreams_from(texts: Sequence[str]) -> tuple[Address, ...]:
    return tuple(parse_address(t) for t in texts)
