"""Hosts-file and plain domain-list parser.

Reads `/etc/hosts`-style block lists (`0.0.0.0 ads.example`, `127.0.0.1 a.example
b.example  # comment`, `::1 ads.example`) and plain domain lists (one host per line). No
I/O here: text in, `ParsedList` out.

Every entry becomes a block rule for that host and its subdomains, first- and third-party
alike (`HostMode.SUFFIX`, `Party.ANY`), which is how peer engines read hosts lists; IP
literals block only that address. The size limits, line splitting and host validation
are shared with the other parsers in `lists.text` (TPL spec §A.3 end-of-line rules,
§A.5.1 host tokens, §A.10 limits).

Decisions (the hosts format has no specification):
- `#` starts a comment anywhere on a line; a line starting with `!` is a comment too, so
  domain lists with Adblock Plus style headers (`! Title: ...`) load.
- Only entries mapped to a sink address (0.0.0.0/8, loopback, `::`, `0`) are blocks. An
  entry mapped to any other address is a redirect, which a blocker cannot honour: it is
  reported (`hosts.redirect-entry`) and not loaded, so it never breaks that site.
- Names that only make sense on the local machine (`localhost`, `broadcasthost`,
  `ip6-allnodes`...) are skipped with a notice, whatever address they map to.
- A line with an invalid host token is skipped whole (it is probably not a hosts line);
  entries on a valid line are loaded even if a sibling is a local name.
- A host that is a whole listed public suffix (`com`, `co.uk`, `github.io`) is loaded,
  with a warning: with subdomain semantics it blocks everything under it. Unlisted single
  labels (`wpad`) are not suffixes in that sense and load quietly.
"""

from __future__ import annotations

import ipaddress

from trackguard.lists.text import (
    MAX_LINE_CHARS,
    MAX_RULES,
    bad_host_char,
    check_size,
    gc_paused,
    header_comment,
    is_listed_suffix,
    long_line,
    normalize_host,
    split_lines,
)
from trackguard.model import (
    Action,
    Diagnostic,
    Format,
    HostMode,
    ListRejected,
    ParsedList,
    Party,
    Rule,
    Severity,
    SourceRef,
)

__all__ = ["LOCAL_NAMES", "classify_address", "parse_hosts"]

#: Host names that stock hosts files map for the local machine, never trackers.
LOCAL_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "0.0.0.0",
    }
)

_HOST_HINTS = {
    "/": "a hosts entry is a host name only; paths need an Adblock Plus or TPL list",
    "*": "hosts entries have no wildcards; an entry already covers its subdomains",
    ":": "a hosts entry has no scheme or port",
    "^": "this is Adblock Plus syntax; load the list as Adblock Plus",
    "|": "this is Adblock Plus syntax; load the list as Adblock Plus",
    "$": "this is Adblock Plus syntax; load the list as Adblock Plus",
}


def parse_hosts(text: str, list_id: str) -> ParsedList:
    """Parse a hosts file or a plain domain list into block rules (see module docstring).

    Raises `ListRejected` when no line yields a block entry, or the text is over 16 MiB or
    500,000 entries (TPL spec §A.10). Bad lines are `hosts.*` diagnostics.

    `metadata` holds `# Key: value` / `! Key: value` comments before the first entry, with
    lower-case keys (`title`, `homepage`, `last modified`...). `skipped` counts blank,
    comment, local-name and redirect lines; invalid lines are counted by their
    ERROR diagnostics only.
    """
    check_size(text, list_id, "hosts.too-large")
    lines = split_lines(text)
    with gc_paused():
        return _parse_lines(lines, list_id)


def _parse_lines(lines: list[str], list_id: str) -> ParsedList:
    rules: list[Rule] = []
    diagnostics: list[Diagnostic] = []
    metadata: dict[str, str] = {}
    skipped = {"blank": 0, "comment": 0, "local": 0, "redirect": 0}
    in_header = True
    append = rules.append
    hosts_format = Format.HOSTS
    block = Action.BLOCK
    anyparty = Party.ANY
    suffix = HostMode.SUFFIX
    # The same address starts nearly every line: classify each spelling once.
    addresses: dict[str, bool | None] = {}

    def report(line_no: int, severity: Severity, code: str, message: str) -> None:
        diagnostics.append(Diagnostic(list_id, line_no, severity, code, message))

    for line_no, raw in enumerate(lines, 1):
        if len(raw) > MAX_LINE_CHARS:
            diagnostic = long_line(list_id, line_no, raw, "hosts", ("#", "!"))
            if diagnostic.severity is Severity.NOTICE:
                skipped["comment"] += 1
            diagnostics.append(diagnostic)
            continue
        line = raw.strip(" \t")
        if not line:
            skipped["blank"] += 1
            continue
        first = line[0]
        if first == "#" or first == "!":
            skipped["comment"] += 1
            if in_header:
                pair = header_comment(line[1:].strip(" \t"))
                if pair and pair[0] not in metadata:
                    metadata[pair[0]] = pair[1]
            continue
        hash_at = line.find("#")
        body = line[:hash_at] if hash_at >= 0 else line
        if "\t" in body:
            body = body.replace("\t", " ")
        tokens = body.split(" ")
        if "" in tokens:
            tokens = [t for t in tokens if t]

        address = tokens[0]
        if len(tokens) == 1:  # a plain domain list line (or a lone address: block it)
            sink: bool | None = True
            names = tokens
        else:
            sink = addresses.get(address)
            if sink is None and address not in addresses:
                sink = addresses[address] = classify_address(address)
            if sink is None:
                report(
                    line_no,
                    Severity.ERROR,
                    "hosts.bad-line",
                    f"`{address}` is not an IP address, and a domain-list line holds one "
                    "host: write `0.0.0.0 host ...` or one host per line",
                )
                continue
            names = tokens[1:]

        entries: list[tuple[str, bool]] = []
        local: list[str] = []
        bad = ""
        for name in names:
            if name.lower().rstrip(".") in LOCAL_NAMES:
                local.append(name)
                continue
            host, is_ip, reason = _host(name)
            if not host:
                bad = reason
                break
            entries.append((host, is_ip))
        if bad:
            report(line_no, Severity.ERROR, "hosts.bad-host", bad)
            continue
        if local:
            report(
                line_no,
                Severity.NOTICE,
                "hosts.local-entry",
                f"local name(s) {', '.join(f'`{n}`' for n in local)} skipped: they name this "
                "machine, not a tracker",
            )
        if not entries:
            skipped["local"] += 1
            continue
        if not sink:  # a real address: a redirect, not a block
            skipped["redirect"] += 1
            report(
                line_no,
                Severity.NOTICE,
                "hosts.redirect-entry",
                f"`{address}` is not a sink address (0.0.0.0, 127.0.0.1, ::1): this line "
                "redirects rather than blocks, so it is not loaded",
            )
            continue

        source = SourceRef(list_id, line_no, line)
        for host, is_ip in entries:
            if not is_ip and is_listed_suffix(host):
                report(
                    line_no,
                    Severity.WARNING,
                    "hosts.public-suffix",
                    f"`{host}` is a whole public suffix: this entry blocks every host under it",
                )
            append(
                Rule(
                    action=block,
                    source=source,
                    syntax=hosts_format,
                    host=host,
                    host_mode=HostMode.EXACT if is_ip else suffix,
                    party=anyparty,
                )
            )
        in_header = False
        if len(rules) > MAX_RULES:
            raise ListRejected(
                str(
                    Diagnostic(
                        list_id,
                        line_no,
                        Severity.ERROR,
                        "hosts.too-many-rules",
                        f"more than {MAX_RULES:,} entries (TPL spec §A.10); split the list",
                    )
                )
            )

    if not rules:
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        detail = f"; first problem: line {errors[0].line}: {errors[0].message}" if errors else ""
        raise ListRejected(
            str(
                Diagnostic(
                    list_id,
                    0,
                    Severity.ERROR,
                    "hosts.no-valid-rule",
                    f"no block entry ({len(errors)} invalid line(s)){detail}",
                )
            )
        )
    return ParsedList(
        list_id=list_id,
        format=Format.HOSTS,
        rules=tuple(rules),
        diagnostics=tuple(diagnostics),
        skipped={kind: n for kind, n in skipped.items() if n},
        metadata=metadata,
    )


def classify_address(token: str) -> bool | None:
    """True for a sink address, False for another IP address, None if not an address.

    Sinks: 0.0.0.0/8 (and the shorthand `0` some Windows lists use), 127.0.0.0/8, `::`,
    `::1`. The zone of a scoped IPv6 address (`fe80::1%lo0`) is allowed.
    """
    if token == "0":
        return True
    if not (token[0].isdigit() or ":" in token):
        return None
    try:
        address = ipaddress.ip_address(token.strip("[]"))
    except ValueError:
        return None
    if address.version == 4:
        return address.is_loopback or address.packed[0] == 0
    return address.is_loopback or address.is_unspecified


def _host(name: str) -> tuple[str, bool, str]:
    """Validate one host token; a trailing dot (FQDN) is fine, a leading one is not."""
    if name.startswith("."):
        return "", False, f"`{name}` starts with a dot: write the host name without it"
    host, is_ip, reason = normalize_host(name)
    if host:
        return host, is_ip, ""
    hint = _HOST_HINTS.get(bad_host_char(name))
    return "", False, f"bad host: {reason}" + (f"; {hint}" if hint else "")
