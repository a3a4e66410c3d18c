"""Upstream host names resolved through a chosen DNS server, CNAME chains uncloaked.

With `--resolver ADDRESS` the proxy resolves the hosts it connects to itself (through
`trackguard dns`, a Pi-hole or any resolver) instead of the system's resolver, and checks
every name of the answer's CNAME chain with the same rule as `trackguard dns`
(`dnsserver.decide.uncloak`): a first-party name that is an alias of a listed tracker is
refused, for every browser and program, not only Firefox. Without `--resolver` nothing
here runs and connections resolve as before.

This module resolves and judges names; the connections call it and answer what it says.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

import dns.asyncresolver
import dns.exception
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from trackguard.dnsserver.decide import DnsVerdict, decide_name, uncloak
from trackguard.dnsserver.packets import Question, cname_chain
from trackguard.domain import is_ip_literal
from trackguard.proxy.exchange import ProxyState

#: Seconds for one name, all retries included.
RESOLVE_TIMEOUT = 5.0


class Cloaked(Exception):
    """The host is an alias of a listed tracker; `verdict` says which and through what."""

    def __init__(self, verdict: DnsVerdict) -> None:
        super().__init__(verdict.explain())
        self.verdict = verdict


class UpstreamResolver:
    def __init__(
        self, server: tuple[str, int], state: ProxyState, *, timeout: float = RESOLVE_TIMEOUT
    ) -> None:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [server[0]]
        resolver.port = server[1]
        resolver.lifetime = timeout
        resolver.cache = dns.resolver.LRUCache(4096)  # honours TTLs, bounded
        self._resolver = resolver
        self._state = state

    async def address(self, host: str) -> str:
        """An address to connect to for `host`.

        Raises `Cloaked` when the CNAME chain reaches a listed tracker, `socket.gaierror`
        when the name does not resolve (the connections already answer 502 for that).
        """
        name = host.strip("[]")
        if is_ip_literal(name):
            return name
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                answer = await self._resolver.resolve(name, rdtype, raise_on_no_answer=False)
            except (dns.exception.DNSException, OSError) as exc:
                raise socket.gaierror(socket.EAI_NONAME, f"cannot resolve {host}: {exc}") from exc
            chain = cname_chain(answer.response, Question(name.lower(), rdtype, dns.rdataclass.IN))
            if chain:
                state = self._state
                first = decide_name(name, config=state.config, matcher=state.matcher)
                verdict = uncloak(first, chain, config=state.config, matcher=state.matcher)
                if verdict.blocked:
                    raise Cloaked(verdict)
            if answer.rrset is not None and len(answer.rrset):
                return str(answer.rrset[0].address)
        raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")


async def upstream_address(
    host: str, resolver: UpstreamResolver | None, connect_to: Mapping[str, str]
) -> str:
    """Where to connect for `host`: the resolver's answer, else `connect_to`, else `host`."""
    if resolver is not None:
        return await resolver.address(host)
    return connect_to.get(host.lower(), host)
