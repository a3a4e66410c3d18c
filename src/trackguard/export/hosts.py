"""DNS block lists: hosts files, dnsmasq, Unbound and Response Policy Zones.

Rule 1: only rules that mean exactly "block this host and its subdomains, whatever the
page, party, type or path" carry over (`||host^`, hosts entries); DNS sees nothing else.
Rule 2: DNS resolvers let the most specific name win; the engine lets an exception beat
any block (TPL spec §A.8) unless the block is `$important`. So a block under a host-wide
exception is left out, and an exception under an `$important` block is left out; the
rest keeps its meaning. Hosts files cannot express exceptions or subdomains at all, so
there every block is narrowed to its exact name.

Format note (in every report): a DNS block also stops visits to the host (navigations),
which the engine's rules do not cover; compare subresource requests only.

No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence

from trackguard.domain import host_suffixes, is_ip_literal
from trackguard.export.report import (
    FormatOutput,
    RuleOutcome,
    dropped,
    exact,
    narrowed,
)
from trackguard.export.shapes import context_free, suffix_host
from trackguard.model import DEFAULT_TYPES, Action, Format, HostMode, Party, Rule

DNS_FORMATS = ("hosts", "dnsmasq", "unbound", "rpz")

NAVIGATION_NOTE = (
    "DNS blocking also stops visits to a blocked host (navigations), which list rules "
    "without `$document` do not block"
)


def _host_of(rule: Rule) -> tuple[str | None, RuleOutcome | None]:
    """The host a rule blocks or allows outright, or why it has none."""
    if rule.removeparam is not None:
        return None, dropped(rule, "removeparam")
    if rule.regex is not None:
        return None, dropped(rule, "not-host-only")
    if rule.party is not Party.ANY:
        return None, dropped(rule, "party")
    if not context_free(rule, types_must_cover=int(DEFAULT_TYPES)):
        return None, dropped(rule, "not-host-only")
    host = suffix_host(rule)
    if host is None:
        if rule.syntax is Format.TPL and rule.host_mode is HostMode.LABELS:
            return None, dropped(rule, "tpl-label-run")
        return None, dropped(rule, "not-host-only")
    if is_ip_literal(host):
        return None, dropped(rule, "ip-host")
    return host, None


def export_dns(rules: Sequence[Rule], fmt: str, *, title: str = "trackguard") -> FormatOutput:
    """One file (`fmt` is a `DNS_FORMATS` name) and one outcome per rule."""
    if fmt not in DNS_FORMATS:
        raise ValueError(f"unknown DNS format {fmt!r}")
    outcomes: list[RuleOutcome | None] = [None] * len(rules)
    blocks: dict[str, list[int]] = {}
    important: set[str] = set()
    allows: dict[str, list[int]] = {}
    for i, rule in enumerate(rules):
        host, problem = _host_of(rule)
        if problem is not None:
            outcomes[i] = problem
            continue
        assert host is not None
        if rule.action is Action.ALLOW:
            allows.setdefault(host, []).append(i)
        else:
            blocks.setdefault(host, []).append(i)
            if rule.important:
                important.add(host)

    def covered(host: str, by: set[str] | dict[str, list[int]]) -> bool:
        return any(s in by for s in host_suffixes(host))

    block_lines: list[str] = []
    for host, idx in blocks.items():
        lifted = host not in important and covered(host, allows)
        for i in idx:
            if lifted:
                outcomes[i] = dropped(rules[i], "allowed-by-exception")
            elif fmt == "hosts":
                outcomes[i] = narrowed(rules[i], "hosts-no-subdomains")
            else:
                outcomes[i] = exact(rules[i])
        if not lifted:
            block_lines.append(host)
    allow_lines: list[str] = []
    written = set(block_lines)
    for host, idx in allows.items():
        under_important = covered(host, important)
        for i in idx:
            if fmt == "hosts":
                outcomes[i] = dropped(rules[i], "hosts-no-exceptions")
            elif under_important:
                outcomes[i] = dropped(rules[i], "under-important-block")
            else:
                outcomes[i] = exact(rules[i])
        # An exception only matters where some block would otherwise apply.
        if fmt != "hosts" and not under_important and covered(host, written):
            allow_lines.append(host)
    text = _render(fmt, block_lines, allow_lines, title)
    name = {"hosts": "hosts", "dnsmasq": "dnsmasq.conf", "unbound": "unbound.conf"}.get(
        fmt, "rpz.zone"
    )
    done = [
        o if o is not None else dropped(rules[i], "not-host-only") for i, o in enumerate(outcomes)
    ]
    stats = {"blocked_hosts": len(block_lines), "exception_hosts": len(allow_lines)}
    return FormatOutput({name: text}, done, [NAVIGATION_NOTE], stats)


def _render(fmt: str, blocks: list[str], allows: list[str], title: str) -> str:
    head = f"{title}: {len(blocks)} blocked hosts, {len(allows)} exceptions (trackguard export)"
    if fmt == "hosts":
        return "\n".join([f"# {head}", *(f"0.0.0.0 {h}" for h in blocks)]) + "\n"
    if fmt == "dnsmasq":
        # `address=/h/#`: h and its subdomains answer 0.0.0.0 / ::; `server=/h/#`: h and
        # its subdomains go to the normal upstream servers (the most specific entry wins).
        lines = [f"# {head}"]
        lines += [f"address=/{h}/#" for h in blocks]
        lines += [f"server=/{h}/#" for h in allows]
        return "\n".join(lines) + "\n"
    if fmt == "unbound":
        lines = [f"# {head}", "server:"]
        lines += [f'    local-zone: "{h}." always_null' for h in blocks]
        lines += [f'    local-zone: "{h}." transparent' for h in allows]
        return "\n".join(lines) + "\n"
    lines = [
        f"; {head}",
        "$TTL 300",
        "@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 300",
        "  IN NS localhost.",
    ]
    for h in blocks:
        lines += [f"{h} CNAME .", f"*.{h} CNAME ."]
    for h in allows:
        lines += [f"{h} CNAME rpz-passthru.", f"*.{h} CNAME rpz-passthru."]
    return "\n".join(lines) + "\n"
