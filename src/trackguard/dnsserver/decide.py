"""What the DNS server does with a name, and why: the tunnel policy plus CNAME uncloaking.

A DNS query carries even less than a CONNECT tunnel: a name, no page, no path. So a name is
judged exactly as a tunnel to that host is (TPL spec §A.7 item 6, `policy.decide_tunnel`):
user overrides first, then the protection switches, then the lists' host-only rules.

Uncloaking: a first-party name can be an alias (`metrics.news.example CNAME
news-example.tracker-cdn.net`) for a tracker the lists name. Once the upstream answered,
every name of the answer's CNAME chain is judged the same way; the query is blocked when
the queried name itself is not exempt (no user allow, no list exception, protection on)
and a later name is blocked. The explanation names the whole chain and the tracker's rule.

Pure: names in, verdicts out. No sockets, no wire format, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trackguard.policy.decide import Layer, ListMatcher, PolicyConfig, Verdict, decide_tunnel

#: Verdict layers that mean "leave this name alone": the chain is not followed.
_EXEMPT = frozenset({Layer.USER_ALLOW, Layer.PROTECTION_OFF, Layer.SITE_OFF, Layer.LIST_ALLOW})


@dataclass(frozen=True, slots=True)
class DnsVerdict:
    """The decision for one query: the queried name's verdict, and the cloaked one if any."""

    name: str
    verdict: Verdict
    #: The CNAME chain from the queried name to the blocked name, both included, when the
    #: block comes from uncloaking; empty otherwise.
    chain: tuple[str, ...] = ()

    @property
    def blocked(self) -> bool:
        return self.verdict.blocked

    @property
    def cloaked(self) -> bool:
        return bool(self.chain)

    def explain(self) -> str:
        """One line for a person: which rule of which list, and through which aliases."""
        v = self.verdict
        where = f"{v.rule} ({v.list}:{v.line})" if v.rule is not None else v.layer.value
        if self.cloaked:
            return "cloaked: " + " -> ".join(self.chain) + f" -> {where}"
        if v.layer is Layer.USER_BLOCK:
            return f"{self.name}: blocked by your block list"
        return f"{self.name}: {'blocked' if v.blocked else 'allowed'} by {where}"


def decide_name(name: str, *, config: PolicyConfig, matcher: ListMatcher) -> DnsVerdict:
    """Judge a queried name before asking upstream (a blocked name never leaves the machine)."""
    return DnsVerdict(name, decide_tunnel(name, config=config, matcher=matcher))


def uncloak(
    first: DnsVerdict, chain: Sequence[str], *, config: PolicyConfig, matcher: ListMatcher
) -> DnsVerdict:
    """Re-judge an allowed name with the aliases the upstream answered.

    `chain` is the CNAME chain after the queried name, in order (see `packets.cname_chain`).
    Returns `first` unchanged when it is blocked, exempt, or no alias is blocked.
    """
    if first.blocked or first.verdict.layer in _EXEMPT:
        return first
    seen = [first.name]
    for alias in chain:
        seen.append(alias)
        verdict = decide_tunnel(alias, config=config, matcher=matcher)
        if verdict.blocked:
            return DnsVerdict(first.name, verdict, tuple(seen))
    return first
