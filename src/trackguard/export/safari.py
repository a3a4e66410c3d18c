"""WebKit (Safari) content-blocker JSON from trackguard rules.

Rule 1: a WebKit rule is `{"trigger": {...}, "action": {"type": ...}}`. `url-filter` is a
regular expression in WebKit's subset (`.`, `*`, `+`, `?`, character classes, groups,
`^` only at the start, `$` only at the end, no `|` alternation, ASCII only), matched
case-insensitively against the whole URL unless `url-filter-is-case-sensitive`.
Rule 2: rules apply in order and `ignore-previous-rules` cancels every earlier match, so
each file is written as: blocks, then exceptions, and `$important` blocks go to a last
file of their own (no exception can lift them there), which is the engine's precedence
(TPL spec §A.8). When blocks are split over several files (Safari's per-blocker caps),
every file repeats the exceptions, because an exception in one content blocker cannot
lift a block in another.
Rule 3: only exact or narrower forms are written. The ABP separator `^` is a character
class, and also the end of the URL: a trailing `^` becomes two rules (class, and `$`).

No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trackguard.export.report import FormatOutput, RuleOutcome, dropped, exact, narrowed, worst
from trackguard.export.shapes import suffix_host, tpl_pattern_follows_host
from trackguard.model import Action, Anchor, Format, HostMode, Party, RequestType, Rule

SEPARATOR = "[^a-zA-Z0-9_.%-]"
SCHEME_HOST = "^[^:]+://"
SUBDOMAINS = "([^/:]*\\.)?"
_SPECIAL = set(".*+?()[]{}|\\^$/")

#: WebKit resource types for each engine type (subframes and pages are `document` with a
#: `load-context`, so they get triggers of their own).
TYPE_MAP: dict[RequestType, str] = {
    RequestType.SCRIPT: "script",
    RequestType.IMAGE: "image",
    RequestType.STYLESHEET: "style-sheet",
    RequestType.FONT: "font",
    RequestType.MEDIA: "media",
    RequestType.PING: "ping",
    RequestType.XMLHTTPREQUEST: "fetch",
    RequestType.WEBSOCKET: "websocket",
    RequestType.OTHER: "other",
    RequestType.POPUP: "popup",
}
RESOURCE_TYPES = (
    "document",
    "image",
    "style-sheet",
    "script",
    "font",
    "raw",
    "svg-document",
    "media",
    "popup",
    "ping",
    "fetch",
    "websocket",
    "other",
)


@dataclass(frozen=True, slots=True)
class SafariOptions:
    max_rules: int = 150_000  # Safari 15+ accepts 150,000 rules per content blocker
    max_bytes: int = 8 * 1024 * 1024


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _SPECIAL else c for c in text)


def _literal(pattern: str) -> str:
    """A TPL-style literal pattern (`*` wildcard only) as a WebKit regex."""
    return ".*".join(_escape(p) for p in pattern.split("*"))


def _abp_filters(rule: Rule) -> tuple[list[str], RuleOutcome | None]:
    """url-filter regexes for an Adblock Plus pattern (one, or two for a trailing `^`)."""
    pattern, anchor = rule.pattern, rule.anchor
    if pattern.startswith("*"):
        anchor &= ~(Anchor.HOST | Anchor.LEFT)
        pattern = pattern.lstrip("*")
    if pattern.endswith("*"):
        anchor &= ~Anchor.RIGHT
        pattern = pattern.rstrip("*")
    if not pattern.isascii():
        return [], dropped(rule, "non-ascii-pattern")
    head = SCHEME_HOST + SUBDOMAINS if anchor & Anchor.HOST else "^" if anchor & Anchor.LEFT else ""
    trailing_sep = pattern.endswith("^") and not anchor & Anchor.RIGHT
    body = pattern[:-1] if trailing_sep else pattern
    out = []
    for piece_index, piece in enumerate(body.split("*")):
        part = SEPARATOR.join(_escape(p) for p in piece.split("^"))
        out.append(part if piece_index == 0 else ".*" + part)
    core = head + "".join(out)
    tail = "$" if anchor & Anchor.RIGHT else ""
    if trailing_sep:
        return [core + SEPARATOR, core + "$"], None
    return [(core + tail) or ".*"], None


def _host_filters(rule: Rule) -> tuple[list[str], RuleOutcome | None]:
    """url-filter regexes for TPL and hosts rules (host by mode, literal pattern)."""
    host = _escape(rule.host)
    mode = rule.host_mode
    if mode is HostMode.SUFFIX:
        prefix, after_host, end = SCHEME_HOST + SUBDOMAINS + host, "(:[^/]*)?", "[:/]"
    elif mode is HostMode.LABELS:
        prefix, after_host, end = SCHEME_HOST + SUBDOMAINS + host, "([.:][^/]*)?", "[.:/]"
    elif mode is HostMode.EXACT:
        prefix, after_host, end = SCHEME_HOST + host, "(:[^/]*)?", "[:/]"
    else:
        prefix = after_host = end = ""
    patterns = [rule.pattern] if rule.pattern else []
    if rule.scheme_equivalence:
        low = rule.pattern.lower()
        for plain, secure in (("http://", "https://"), ("ws://", "wss://")):
            if low.startswith(plain):
                patterns.append(secure + rule.pattern[len(plain) :])
    if any(not p.isascii() for p in patterns) or not rule.host.isascii():
        return [], dropped(rule, "non-ascii-pattern")
    if not patterns:
        return [prefix + end], None
    if mode is HostMode.NONE:
        return [_literal(p) for p in patterns], None
    out = []
    for p in patterns:
        if not tpl_pattern_follows_host(rule.host, p):
            return [], dropped(rule, "tpl-pattern-overlap")
        out.append(prefix + after_host + "(/.*)?" + _literal(p))
    return out, None


def _domains(rule: Rule) -> tuple[dict[str, Any], RuleOutcome | None]:
    include = [d for d in rule.include_domains if not d.endswith(".*")]
    exclude = [d for d in rule.exclude_domains if not d.endswith(".*")]
    note = None
    if len(exclude) != len(rule.exclude_domains):
        return {}, dropped(rule, "entity-domain")
    if len(include) != len(rule.include_domains):
        if not include:
            return {}, dropped(rule, "entity-domain")
        note = narrowed(rule, "entity-domain-partly")
    if include and exclude:
        return {}, dropped(rule, "include-and-exclude")
    out: dict[str, Any] = {}
    if include:
        out["if-domain"] = ["*" + d for d in sorted(set(include))]
    if exclude:
        out["unless-domain"] = ["*" + d for d in sorted(set(exclude))]
    return out, note


def _type_triggers(
    rule: Rule, types: RequestType
) -> tuple[list[dict[str, Any]], RuleOutcome | None]:
    """resource-type / load-context pairs covering `types`."""
    note = None
    if types & RequestType.OBJECT and types & RequestType.OTHER:
        types &= ~RequestType.OBJECT  # WebKit files `<object>` loads under `other`
    elif types & RequestType.OBJECT:
        types &= ~RequestType.OBJECT
        if not types:
            return [], dropped(rule, "object-type")
        note = narrowed(rule, "object-partly")
    plain = [name for flag, name in TYPE_MAP.items() if types & flag]
    out: list[dict[str, Any]] = []
    if plain:
        out.append({"resource-type": plain})
    if types & RequestType.SUBDOCUMENT:
        out.append({"resource-type": ["document"], "load-context": ["child-frame"]})
    if types & RequestType.DOCUMENT:
        out.append({"resource-type": ["document"], "load-context": ["top-frame"]})
    return out, note


def convert_rule(rule: Rule) -> tuple[list[dict[str, Any]], RuleOutcome]:
    """WebKit rules for one trackguard rule, and how faithful they are."""
    if rule.removeparam is not None:
        return [], dropped(rule, "removeparam")
    if rule.denyallow:
        return [], dropped(rule, "denyallow")
    if rule.regex is not None:
        return [], dropped(rule, "regex")
    if rule.host.startswith("["):
        return [], dropped(rule, "ipv6-host")
    domains, dnote = _domains(rule)
    if dnote is not None and dnote.fate.value == "dropped":
        return [], dnote
    notes = [dnote] if dnote is not None else []
    base: dict[str, Any] = dict(domains)
    if rule.match_case:
        base["url-filter-is-case-sensitive"] = True
    if rule.party is Party.THIRD:
        base["load-type"] = ["third-party"]
    elif rule.party is Party.FIRST:
        base["load-type"] = ["first-party"]
    action = "ignore-previous-rules" if rule.action is Action.ALLOW else "block"
    out: list[dict[str, Any]] = []
    types = rule.types
    if rule.action is Action.ALLOW and types & RequestType.DOCUMENT:
        host = suffix_host(rule)
        if host is None or rule.party is not Party.ANY or domains:
            notes.append(dropped(rule, "document-exception-context"))
        else:
            # `@@||site^$document`: nothing is blocked on pages of that site.
            trigger = {"url-filter": ".*", "if-domain": ["*" + host]}
            out.append({"trigger": trigger, "action": {"type": action}})
        types &= ~RequestType.DOCUMENT
    if types:
        if rule.syntax is Format.ABP:
            filters, problem = _abp_filters(rule)
        else:
            filters, problem = _host_filters(rule)
        triggers, tnote = _type_triggers(rule, types)
        if tnote is not None:
            notes.append(tnote)
        if problem is not None:
            notes.append(problem)
        for url_filter in filters:
            for typed in triggers:
                trigger = {"url-filter": url_filter, **base, **typed}
                out.append({"trigger": trigger, "action": {"type": action}})
    if not out:
        return [], dropped(rule, notes[0].reason if notes else "types")
    if not notes:
        return out, exact(rule)
    return out, worst([*notes, exact(rule)], rule)


def export_safari(rules: Sequence[Rule], options: SafariOptions = SafariOptions()) -> FormatOutput:
    """`blocker-N.json` files under the caps, and `index.json` naming them in order."""
    outcomes: list[RuleOutcome] = []
    blocks: list[dict[str, Any]] = []
    exceptions: list[dict[str, Any]] = []
    important: list[dict[str, Any]] = []
    for rule in rules:
        written, outcome = convert_rule(rule)
        outcomes.append(outcome)
        if rule.action is Action.ALLOW:
            exceptions.extend(written)
        elif rule.important:
            important.extend(written)
        else:
            blocks.extend(written)
    exc_bytes = sum(len(json.dumps(r)) + 1 for r in exceptions)
    room_rules = options.max_rules - len(exceptions)
    room_bytes = options.max_bytes - exc_bytes - 2
    files: dict[str, str] = {}
    notes: list[str] = []
    if room_rules <= 0 or room_bytes <= 0:
        notes.append("the exceptions alone exceed the per-file caps: blocks were not written")
        for i, rule in enumerate(rules):
            if rule.action is Action.BLOCK and outcomes[i].fate.value != "dropped":
                outcomes[i] = dropped(rule, "ruleset-limit")
        blocks = []
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for r in blocks:
        n = len(json.dumps(r)) + 1
        if current and (len(current) >= room_rules or size + n > room_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(r)
        size += n
    if current:
        chunks.append(current)
    names = []
    for i, chunk in enumerate(chunks, 1):
        name = f"blocker-{i}.json"
        files[name] = json.dumps(chunk + exceptions, separators=(",", ":"))
        names.append(name)
    if important:
        name = f"blocker-{len(chunks) + 1}.json"
        files[name] = json.dumps(important, separators=(",", ":"))
        names.append(name)
    if not names:
        files["blocker-1.json"] = "[]"
        names.append("blocker-1.json")
    files["index.json"] = json.dumps(names)
    stats = {
        "safari_files": len(names),
        "safari_rules": len(blocks) + len(important) + len(exceptions) * len(chunks),
    }
    if len(chunks) > 1:
        notes.append(f"exceptions repeated in each of the {len(chunks)} block files")
    notes.append("needs Safari 16.4+ (resource types `fetch`, `websocket`, `ping`, `other`)")
    notes.append("WebKit has no `object` type: `<object>` loads count as `other`")
    return FormatOutput(files, outcomes, notes, stats)
