"""IE9 Tracking Protection List (TPL) parser and writer (TPL spec Part A).

`parse_tpl` turns TPL text into `Rule`s plus `Diagnostic`s; `format_tpl` writes rules back
as a canonical TPL file (§A.11). No I/O here: text in, values out. A bad line never stops
a parse (it becomes a diagnostic); only a list that is unusable as a whole raises
`ListRejected` (§A.2, §A.10, §A.13).

The loop runs on multi-megabyte lists at start-up, so it dispatches on the first character
and tokenises with `str` methods; no regular expression touches list text.

The size limits and the line splitter below are shared with the hosts parser: §A.10's
limits are trackguard's limits for every list it loads.
"""

from __future__ import annotations

from collections.abc import Iterable

from trackguard.lists.text import (
    MAX_LINE_CHARS,
    MAX_LIST_BYTES,
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
    DEFAULT_TYPES,
    Action,
    Anchor,
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

__all__ = [
    "DEFAULT_EXPIRES_DAYS",
    "HEADER",
    "MAX_EXPIRES_DAYS",
    "MAX_LINE_CHARS",
    "MAX_LIST_BYTES",
    "MAX_RULES",
    "bad_host_char",
    "check_size",
    "format_tpl",
    "gc_paused",
    "header_comment",
    "is_listed_suffix",
    "normalize_host",
    "parse_tpl",
    "split_lines",
]

HEADER = "msFilterList"
#: §A.4: `Expires` is in days, at most 30, 7 when absent.
DEFAULT_EXPIRES_DAYS = 7
MAX_EXPIRES_DAYS = 30

_ERROR = Severity.ERROR
_WARNING = Severity.WARNING
_NOTICE = Severity.NOTICE

# Domain-token characters that get a specific, actionable message (§A.5.1).
_DOMAIN_HINTS = {
    "/": "a path belongs in a separate pattern token",
    "*": "domain tokens have no wildcards: `-d x.example` already matches every host "
    "containing the labels `x.example`",
    ":": "ports and schemes are not part of a domain token; domain matching ignores the port",
    ",": "one domain per rule: write one line per domain",
    "@": "a domain token has no user name",
    "?": "a query string belongs in a separate pattern token",
}


def _rejection(list_id: str, line: int, message: str, code: str) -> str:
    return str(Diagnostic(list_id, line, _ERROR, code, message))


# --------------------------------------------------------------------------------------
# Parser


def parse_tpl(text: str, list_id: str) -> ParsedList:
    """Parse a TPL file (§A.2-§A.5) into third-party-only block and allow rules.

    Raises `ListRejected` when line 1 is not exactly `msFilterList` (trailing whitespace
    allowed, §A.3/§A.13), when no line is a valid rule (§A.2), or when the text is over
    16 MiB or 500,000 rules (§A.10). Everything else is a `Diagnostic` with a stable code.

    `metadata`: `expires_days` is always set (the effective interval after §A.4 clamping,
    "7" when absent); `title` and other `# Key: value` comments before the first rule use
    lower-case keys; unknown properties are kept as `property.<name>`. `skipped` counts
    header, blank, comment and property lines; each invalid line has one ERROR diagnostic
    instead, so rules + skipped + errors = lines.
    """
    check_size(text, list_id, "tpl.too-large")
    lines = split_lines(text)
    _check_header(lines, list_id)
    with gc_paused():
        return _parse_lines(lines, list_id)


def _parse_lines(lines: list[str], list_id: str) -> ParsedList:
    """The line loop of `parse_tpl` (§A.2 dispatch on the first character)."""

    rules: list[Rule] = []
    diagnostics: list[Diagnostic] = []
    metadata: dict[str, str] = {}
    skipped = {"header": 1, "blank": 0, "comment": 0, "property": 0}
    # Domain tokens repeat a lot (one host, many paths): validate each spelling once.
    hosts: dict[str, tuple[str, bool, str]] = {}
    in_header = True  # `# Key: value` comments count as metadata until the first rule
    expires: int | None = None
    http_count = 0
    http_first = 0
    append = rules.append
    third = Party.THIRD
    tpl = Format.TPL

    def error(line_no: int, code: str, message: str) -> None:
        diagnostics.append(Diagnostic(list_id, line_no, _ERROR, code, message))

    def warn(line_no: int, code: str, message: str) -> None:
        diagnostics.append(Diagnostic(list_id, line_no, _WARNING, code, message))

    for line_no, raw in enumerate(lines[1:], 2):
        if len(raw) > MAX_LINE_CHARS:
            diagnostic = long_line(list_id, line_no, raw, "tpl", ("#",))
            if diagnostic.severity is _NOTICE:
                skipped["comment"] += 1
            diagnostics.append(diagnostic)
            continue
        line = raw.strip(" \t")
        if not line:
            skipped["blank"] += 1
            continue
        first = line[0]

        if first == "-" or first == "+":
            block = first == "-"
            second = line[1:2]
            if second == "d" and line[2:3] in (" ", "\t"):
                # `-d domain [pattern]` / `+d domain [pattern]` (§A.3 domain-form)
                domains = 1
            elif (second == " " or second == "\t") and block:
                # `- pattern` (§A.3 string-form)
                domains = 0
            else:
                code, message = _marker_problem(line)
                error(line_no, code, message)
                continue
            rest = line[2 + domains :]
            if "\t" in rest:
                rest = rest.replace("\t", " ")
            tokens = rest.split(" ")
            if "" in tokens:
                tokens = [t for t in tokens if t]
            # `tokens` is never empty: the line was stripped, so text follows the marker.
            count = len(tokens)
            if count > domains + 1:
                marker = first + "d" if domains else first
                error(line_no, "tpl.extra-tokens", _extra_tokens_message(marker, tokens, domains))
                continue
            host = ""
            mode = HostMode.NONE
            if domains:
                token = tokens[0]
                known = hosts.get(token)
                if known is None:
                    known = hosts[token] = normalize_host(token)
                host, is_ip, reason = known
                if not host:
                    error(line_no, "tpl.bad-domain", _domain_message(first, reason, token, tokens))
                    continue
                # §A.5.1: blocks match label runs, allows right-most labels, IPs exactly.
                mode = HostMode.EXACT if is_ip else HostMode.LABELS if block else HostMode.SUFFIX
            pattern = tokens[domains] if count > domains else ""
            scheme_eq = False
            if pattern:
                if not pattern.strip("*"):
                    error(line_no, "tpl.no-literal", _NO_LITERAL)
                    continue
                if pattern[0] in "hHwW" and _starts_with_http(pattern):
                    scheme_eq = True
                    http_count += 1
                    http_first = http_first or line_no
                if "#" in pattern:
                    warn(
                        line_no,
                        "tpl.fragment-pattern",
                        "the pattern contains '#', which never occurs in the URL text "
                        "(the fragment is not part of it, §A.5.2): this rule can never match",
                    )
            elif block and mode is HostMode.LABELS and is_listed_suffix(host):
                warn(
                    line_no,
                    "tpl.public-suffix",
                    f"`{host}` is a whole public suffix: this rule blocks every third-party "
                    "host under it (§A.5.1); add a pattern or name the hosts",
                )
            append(
                Rule(
                    action=Action.BLOCK if block else Action.ALLOW,
                    source=SourceRef(list_id, line_no, line),
                    syntax=tpl,
                    pattern=pattern,
                    host=host,
                    host_mode=mode,
                    scheme_equivalence=scheme_eq,
                    party=third,
                )
            )
            in_header = False
            if len(rules) > MAX_RULES:
                raise ListRejected(
                    _rejection(
                        list_id,
                        line_no,
                        f"more than {MAX_RULES:,} rules (§A.10); split the list",
                        "tpl.too-many-rules",
                    )
                )

        elif first == "#":
            skipped["comment"] += 1
            if in_header:
                pair = header_comment(line[1:].strip(" \t"))
                if pair and pair[0] not in metadata:
                    metadata[pair[0]] = pair[1]

        elif first == ":":
            valid, value = _parse_property(line, line_no, list_id, metadata, diagnostics)
            if not valid:
                continue
            skipped["property"] += 1
            if value is not None:
                if expires is not None:
                    diagnostics.append(
                        Diagnostic(
                            list_id,
                            line_no,
                            _WARNING,
                            "tpl.expires-duplicate",
                            f"`Expires` appears again; this one ({value}) wins over the "
                            f"earlier {expires} (§A.4)",
                        )
                    )
                expires = value

        else:
            error(line_no, "tpl.invalid-line", _invalid_line_message(line))

    if not rules:
        errors = [d for d in diagnostics if d.severity is _ERROR]
        detail = f"; first problem: line {errors[0].line}: {errors[0].message}" if errors else ""
        raise ListRejected(
            _rejection(
                list_id,
                0,
                f"no valid block or allow rule ({len(errors)} invalid line(s)){detail} (§A.2)",
                "tpl.no-valid-rule",
            )
        )
    if http_count:
        diagnostics.append(
            Diagnostic(
                list_id,
                http_first,
                _NOTICE,
                "tpl.http-scheme",
                f"{http_count:,} rule(s) begin with `http://` or `ws://` (first on line "
                f"{http_first}); they also match `https://` / `wss://` URLs (scheme "
                "equivalence, §A.5.2) unless strict IE mode is on",
            )
        )
    metadata["expires_days"] = str(DEFAULT_EXPIRES_DAYS if expires is None else expires)
    return ParsedList(
        list_id=list_id,
        format=Format.TPL,
        rules=tuple(rules),
        diagnostics=tuple(diagnostics),
        skipped={kind: n for kind, n in skipped.items() if n},
        metadata=metadata,
    )


_NO_LITERAL = (
    "pattern has no literal character: it would match every third-party URL (§A.5.2); "
    "write the text the URL must contain"
)


def _check_header(lines: list[str], list_id: str) -> None:
    """§A.2/§A.3: line 1 is exactly `msFilterList`, trailing spaces or tabs allowed."""
    found = lines[0].rstrip(" \t")
    if found == HEADER:
        return
    if not found.strip():
        later = next((i for i, s in enumerate(lines[:50], 1) if s.strip() == HEADER), 0)
        problem = (
            f"line 1 is blank but the header must be on line 1 (found it on line {later}); "
            "remove the lines before it"
            if later
            else "line 1 must be `msFilterList`, but it is blank (an empty file?)"
        )
    elif found.strip(" \t") == HEADER:
        problem = "the header `msFilterList` must start at the beginning of line 1"
    elif found.strip(" \t").lower() == HEADER.lower():
        problem = (
            f"the header is case-sensitive: line 1 must be `msFilterList`, not `{found.strip()}`"
        )
    else:
        shown = found if len(found) <= 60 else found[:57] + "..."
        problem = (
            f"line 1 must be `msFilterList`, found `{shown}`: this is not a Tracking "
            "Protection List (an Adblock Plus list or hosts file needs another parser)"
        )
    raise ListRejected(_rejection(list_id, 1, problem + " (§A.3)", "tpl.bad-header"))


def _starts_with_http(pattern: str) -> bool:
    """§A.5.2 scheme equivalence applies to patterns starting with `http://` / `ws://`."""
    head = pattern[:7].lower()
    return head == "http://" or head.startswith("ws://")


def _marker_problem(line: str) -> tuple[str, str]:
    """Diagnose a `-`/`+` line whose second character is neither `d`+space nor space."""
    first, rest = line[0], line[1:]
    pattern = rest.strip(" \t")
    if rest[:1] == "D" and rest[1:2] in (" ", "\t"):
        return (
            "tpl.uppercase-d",
            f"the domain marker is a lower-case `d`: write `{first}d{rest[1:]}`",
        )
    if rest == "d":
        return "tpl.missing-domain", f"`{first}d` needs a domain, e.g. `{first}d tracker.example`"
    if not rest:
        if first == "+":
            return "tpl.allow-without-domain", "`+` needs `d` and a domain: `+d host` (§A.5.3)"
        return "tpl.missing-pattern", "`-` needs a pattern, e.g. `- /pixel.gif?`"
    if first == "+" and rest[0] != "d":
        return (
            "tpl.allow-without-domain",
            f"allow rules need a domain: write `+d host {pattern}` (§A.5.3)",
        )
    if rest[0] == "d":
        return (
            "tpl.missing-space",
            f"missing space after `{first}d` (§A.3): write `{first}d {rest[1:]}`"
            + (f", or `- {rest}` if `{rest}` is a pattern" if first == "-" else ""),
        )
    return "tpl.missing-space", f"missing space after `{first}` (§A.3): write `{first} {rest}`"


def _extra_tokens_message(marker: str, tokens: list[str], domains: int) -> str:
    """§A.3: a rule has at most one pattern token; say what to do about the rest.

    `domains` is 1 for `-d`/`+d` rules (the first token is the domain), 0 for `- pattern`.
    """
    extra = len(tokens) - domains - 1
    message = (
        f"{extra} token(s) too many: a rule has at most one pattern and no spaces in it (§A.3)"
    )
    if any(t.startswith("#") for t in tokens[domains:]):
        return message + "; text after a rule is not a comment: move it to its own `#` line"
    glued = "".join(tokens[domains:])
    if glued.lower().startswith(("http:", "https:")) or "/" in glued:
        rewrite = " ".join([marker, *tokens[:domains], glued])
        return message + f"; if the spaces are typos write `{rewrite}` (a space in a URL is `%20`)"
    return message + "; this looks like a CSS selector or prose, which TPL cannot express"


def _domain_message(marker: str, reason: str, token: str, tokens: list[str]) -> str:
    """§A.5.1 messages, with a concrete rewrite when the fix is obvious."""
    message = f"bad domain token: {reason}"
    hint = _DOMAIN_HINTS.get(bad_host_char(token))
    if hint:
        message += f"; {hint}"
    slash = token.find("/")
    if slash > 0 and len(tokens) == 1 and not bad_host_char(token[:slash]):
        return message + f": write `{marker}d {token[:slash]} {token[slash:]}`"
    if slash == 0 and marker == "-" and len(tokens) == 1:
        return message + f": for a pattern rule write `- {token}`"
    if token.startswith("*.") and not bad_host_char(token[2:]):
        return message + f": write `{marker}d {token[2:]}`"
    return message


def _invalid_line_message(line: str) -> str:
    shown = line if len(line) <= 40 else line[:37] + "..."
    hint = ""
    if line.startswith("!"):
        hint = "; TPL comments start with `#`, not `!`"
    elif line.startswith(("||", "@@", "|")):
        hint = "; this is Adblock Plus syntax, which TPL does not read"
    return f"`{shown}` is not a TPL line: lines start with `#`, `:`, `-` or `+` (§A.2){hint}"


def _parse_property(
    line: str,
    line_no: int,
    list_id: str,
    metadata: dict[str, str],
    diagnostics: list[Diagnostic],
) -> tuple[bool, int | None]:
    """Parse `: name = value` (§A.3/§A.4) into (valid, clamped `Expires` days or None).

    Problems are appended to `diagnostics`; an invalid line returns (False, None).
    """
    body = line[1:].strip(" \t")
    eq = body.find("=")
    name = body[:eq].strip(" \t") if eq >= 0 else ""
    if (
        eq < 0
        or not name
        or not name.replace("-", "").replace("_", "").isalnum()
        or not name.isascii()
    ):
        diagnostics.append(
            Diagnostic(
                list_id,
                line_no,
                _ERROR,
                "tpl.bad-property",
                "a property line is `: Name=value`, e.g. `: Expires=5` (§A.3)",
            )
        )
        return False, None
    value = body[eq + 1 :].strip(" \t")
    key = name.lower()
    if key != "expires":
        metadata.setdefault("property." + key, value)
        diagnostics.append(
            Diagnostic(
                list_id,
                line_no,
                _NOTICE,
                "tpl.unknown-property",
                f"unknown property `{name}` kept for display but not used; only `Expires` "
                "is defined (§A.4)",
            )
        )
        return True, None
    digits = value[1:] if value[:1] in ("+", "-") else value
    if not digits or not digits.isascii() or not digits.isdigit():
        diagnostics.append(
            Diagnostic(
                list_id,
                line_no,
                _ERROR,
                "tpl.expires-invalid",
                f"`Expires={value}` is not a whole number of days; the default of "
                f"{DEFAULT_EXPIRES_DAYS} days applies (§A.4). Write e.g. `: Expires=5`",
            )
        )
        return False, None
    # Long digit strings are clamped without converting them (int() of thousands of digits
    # is slow and capped by Python).
    days = int(digits) if len(digits) <= 9 else MAX_EXPIRES_DAYS + 1
    if value.startswith("-"):
        days = -days
    if days > MAX_EXPIRES_DAYS or days < 1:
        clamped = MAX_EXPIRES_DAYS if days > MAX_EXPIRES_DAYS else 1
        diagnostics.append(
            Diagnostic(
                list_id,
                line_no,
                _WARNING,
                "tpl.expires-clamped",
                f"`Expires={value}` is outside 1-{MAX_EXPIRES_DAYS} days; using {clamped} (§A.4)",
            )
        )
        days = clamped
    return True, days


# --------------------------------------------------------------------------------------
# Writer


def format_tpl(
    rules: Iterable[Rule],
    *,
    title: str | None = None,
    expires_days: int | None = None,
) -> str:
    """Write rules as a canonical TPL file (§A.11): LF, no BOM, header, title, Expires, rules.

    Rules are grouped in §A.11's order (`-d host`, `-d host pattern`, `- pattern`,
    `+d host`, `+d host pattern`), keeping their relative order. `parse_tpl` of the result
    gives back the same rules (action, host, host mode, pattern); `scheme_equivalence` is
    recomputed from the pattern, as it is for any parsed list.

    Raises ValueError for a rule TPL cannot express (options, anchors, a first-party or
    any-party rule, a hosts-style suffix block...) or an `expires_days` outside 1-30:
    exporting it anyway would silently change what the list blocks.
    """
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise ValueError(f"expires_days must be 1-{MAX_EXPIRES_DAYS} (§A.4), got {expires_days}")
    groups: list[list[str]] = [[], [], [], [], []]
    for rule in rules:
        group, text = _rule_line(rule)
        groups[group].append(text)
    out = [HEADER]
    if title is not None:
        clean = " ".join(title.split())
        if clean:
            out.append(f"# Title: {clean}")
    if expires_days is not None:
        out.append(f": Expires={expires_days}")
    for group_lines in groups:
        out.extend(group_lines)
    return "\n".join(out) + "\n"


def _rule_line(rule: Rule) -> tuple[int, str]:
    """(group index, TPL line) for one rule; ValueError if TPL cannot express it."""
    where = f"{rule.source.list_id}:{rule.source.line} `{rule.source.text}`"
    if (
        rule.party is not Party.THIRD
        or rule.anchor is not Anchor.NONE
        or rule.regex is not None
        or rule.match_case
        or rule.types != DEFAULT_TYPES
        or rule.include_domains
        or rule.exclude_domains
        or rule.denyallow
        or rule.important
        or rule.badfilter
        or rule.removeparam is not None
        or rule.redirect is not None
    ):
        raise ValueError(
            f"{where}: TPL rules are third-party, option-less substring rules (§A.5); "
            "this rule cannot be written as TPL"
        )
    pattern = rule.pattern
    # The parser splits tokens on space and tab and lines on CR and LF (§A.3).
    if pattern and (not pattern.strip("*") or any(c in pattern for c in " \t\r\n")):
        raise ValueError(f"{where}: pattern `{pattern}` has whitespace or no literal (§A.5.2)")
    block = rule.action is Action.BLOCK
    if rule.host_mode is HostMode.NONE:
        if not block or not pattern:
            raise ValueError(
                f"{where}: TPL needs a domain for allow rules and a pattern or domain for blocks"
            )
        return 2, f"- {pattern}"
    host, is_ip, reason = normalize_host(rule.host)
    expected = HostMode.EXACT if is_ip else (HostMode.LABELS if block else HostMode.SUFFIX)
    if not host or host != rule.host or rule.host_mode is not expected:
        raise ValueError(
            f"{where}: host `{rule.host}` with mode {rule.host_mode.value} has no TPL form "
            f"({reason or 'TPL block domains match label runs, allow domains match suffixes'})"
        )
    marker = "-d" if block else "+d"
    group = (0 if block else 3) + (1 if pattern else 0)
    return group, f"{marker} {host} {pattern}" if pattern else f"{marker} {host}"
