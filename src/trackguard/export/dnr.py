"""Chrome/Edge Manifest V3 `declarativeNetRequest` static rulesets from trackguard rules.

Rule 1: a DNR rule is written only when it matches the same requests as its source rule
(exact) or a subset (narrowed); anything else is dropped with a reason (`report`).
Rule 2: precedence is carried by `priority`, the same across every ruleset of the
extension: removeparam redirect = block 1 < allow / allowAllRequests 2 < `$important` block 3.
At equal priority Chrome ranks block above redirect, so a blocked request stays blocked;
a redirect that would not change the URL is ignored by Chrome, so it must never outrank
a block. The price: an exception also stops a parameter removal in Chrome, which the
engine would still do, so removeparam rules are reported as narrowed.
Rule 3: the limits are Chrome's documented ones: `MAX_NUMBER_OF_REGEX_RULES` 1,000 regex
rules, each compiled by RE2 within 2 KiB; `GUARANTEED_MINIMUM_STATIC_RULES` 30,000 rules
in enabled rulesets; `MAX_NUMBER_OF_ENABLED_STATIC_RULESETS` 50 of at most
`MAX_NUMBER_OF_STATIC_RULESETS` 100. Rules past a limit are dropped and reported.

Mapping (Chrome's `RuleCondition` fields):
- `||host^` (any list), TPL `+d host`, hosts entries -> `requestDomains` (host and its
  subdomains). Rules that differ only in that host are merged into one DNR rule, as uBlock
  Origin Lite does; the explain file keeps every source line per host.
- TPL `-d host` matches the host's labels anywhere (§A.5.1): `requestDomains: [host]`
  plus `urlFilter: "||host."` (a label run followed by more labels).
- ABP patterns -> `urlFilter` (same `*`, `^`, `|`, `||` semantics); `/re/` -> `regexFilter`.
- `domain=` -> `initiatorDomains` / `excludedInitiatorDomains`; `third-party` ->
  `domainType`; `denyallow=` -> `excludedRequestDomains`; types -> `resourceTypes`;
  `match-case` -> `isUrlFilterCaseSensitive` (default false since Chrome 118).
- `@@...$document` -> `allowAllRequests` on `main_frame`; `$removeparam=name` ->
  `redirect.transform.queryTransform.removeParams`.

No I/O: returns file texts for the caller to write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import re2

from trackguard.domain import is_ip_literal
from trackguard.export.report import (
    FormatOutput,
    RuleOutcome,
    dropped,
    exact,
    narrowed,
    worst,
)
from trackguard.export.shapes import is_plain_host, suffix_host, tpl_pattern_follows_host
from trackguard.model import (
    DEFAULT_TYPES,
    Action,
    Anchor,
    Format,
    HostMode,
    Party,
    RequestType,
    Rule,
)

PRIORITY_BLOCK = 1
PRIORITY_ALLOW = 2
PRIORITY_IMPORTANT = 3
PRIORITY_REMOVEPARAM = 1

MAX_NUMBER_OF_REGEX_RULES = 1000
GUARANTEED_MINIMUM_STATIC_RULES = 30_000
MAX_NUMBER_OF_ENABLED_STATIC_RULESETS = 50
MAX_NUMBER_OF_STATIC_RULESETS = 100
REGEX_MAX_MEM = 2 * 1024  # Chrome compiles regexFilter with RE2 max_mem = 2 KiB
MIN_CHROME_VERSION = "118"  # isUrlFilterCaseSensitive defaults to false from 118 on

#: Every DNR resource type, for the schema and the evaluator.
RESOURCE_TYPES = (
    "main_frame",
    "sub_frame",
    "stylesheet",
    "script",
    "image",
    "font",
    "object",
    "xmlhttprequest",
    "ping",
    "csp_report",
    "media",
    "websocket",
    "webtransport",
    "webbundle",
    "other",
)

#: Engine type -> the DNR types Chrome gives such requests. Chrome names a few kinds of
#: request the engine files under OTHER (CSP reports, WebTransport, web bundles).
TYPE_MAP: dict[RequestType, tuple[str, ...]] = {
    RequestType.SCRIPT: ("script",),
    RequestType.IMAGE: ("image",),
    RequestType.STYLESHEET: ("stylesheet",),
    RequestType.OBJECT: ("object",),
    RequestType.XMLHTTPREQUEST: ("xmlhttprequest",),
    RequestType.SUBDOCUMENT: ("sub_frame",),
    RequestType.PING: ("ping",),
    RequestType.MEDIA: ("media",),
    RequestType.FONT: ("font",),
    RequestType.WEBSOCKET: ("websocket",),
    RequestType.OTHER: ("other", "csp_report", "webbundle", "webtransport"),
    RequestType.DOCUMENT: ("main_frame",),
}


@dataclass(frozen=True, slots=True)
class DnrOptions:
    max_rules_per_ruleset: int = GUARANTEED_MINIMUM_STATIC_RULES
    max_regex_rules: int = MAX_NUMBER_OF_REGEX_RULES
    ruleset_prefix: str = "tg"


# A converted part: (DNR rule without id, merge host or None, outcome of this part).
_Part = tuple[dict[str, Any], str | None, RuleOutcome]


def _resource_types(rule: Rule) -> tuple[list[str] | None, RuleOutcome | None]:
    """`resourceTypes` (None: Chrome's default, every type but main_frame)."""
    types = rule.types
    note: RuleOutcome | None = None
    if types & RequestType.POPUP:
        types &= ~RequestType.POPUP
        if not types:
            return [], dropped(rule, "popup")
        note = narrowed(rule, "popup-partly")
    if types == DEFAULT_TYPES:
        return None, note
    names: list[str] = []
    for flag, dnr in TYPE_MAP.items():
        if types & flag:
            names.extend(dnr)
    return names, note


def _domains(rule: Rule) -> tuple[dict[str, Any], RuleOutcome | None]:
    """`initiatorDomains` / `excludedInitiatorDomains` from `domain=`.

    Chrome lets an excluded domain win over an included one whatever their order; the
    engine lets the most specific entry win. They agree except for an included domain
    under an excluded one, which Chrome never matches: such entries are left out.
    """
    out: dict[str, Any] = {}
    note: RuleOutcome | None = None
    include = [d for d in rule.include_domains if not d.endswith(".*")]
    exclude = [d for d in rule.exclude_domains if not d.endswith(".*")]
    if len(exclude) != len(rule.exclude_domains):
        # Not excluding an entity would make the rule apply to more pages.
        return {}, dropped(rule, "entity-domain")
    if len(include) != len(rule.include_domains):
        if not include:
            return {}, dropped(rule, "entity-domain")
        note = narrowed(rule, "entity-domain-partly")
    if include and exclude:
        kept = [d for d in include if not any(d == x or d.endswith("." + x) for x in exclude)]
        if not kept:
            return {}, dropped(rule, "include-under-exclude")
        if len(kept) != len(include):
            note = narrowed(rule, "include-under-exclude")
        include = kept
    if include:
        out["initiatorDomains"] = sorted(set(include))
    if exclude:
        out["excludedInitiatorDomains"] = sorted(set(exclude))
    return out, note


def _check_regex(rule: Rule) -> RuleOutcome | None:
    assert rule.regex is not None
    options = re2.Options()
    options.max_mem = REGEX_MAX_MEM
    options.case_sensitive = rule.match_case
    options.log_errors = False
    try:
        re2.compile(rule.regex, options)
    except Exception:  # re2 raises its own error type
        plain = re2.Options()
        plain.log_errors = False
        try:
            re2.compile(rule.regex, plain)
        except Exception:
            return dropped(rule, "bad-regex")
        return dropped(rule, "regex-chrome-limit")
    return None


def _url_filter(rule: Rule) -> tuple[str | None, RuleOutcome | None]:
    """The `urlFilter` of an Adblock Plus pattern, normalised as the engine reads it."""
    pattern = rule.pattern
    anchor = rule.anchor
    if pattern.startswith("*"):
        anchor &= ~(Anchor.HOST | Anchor.LEFT)  # the engine drops a start anchor before `*`
        pattern = pattern.lstrip("*")
    if pattern.endswith("*"):
        anchor &= ~Anchor.RIGHT
        pattern = pattern.rstrip("*")
    if not pattern.isascii():
        return None, dropped(rule, "non-ascii-pattern")
    head = "||" if anchor & Anchor.HOST else "|" if anchor & Anchor.LEFT else ""
    tail = "|" if anchor & Anchor.RIGHT else ""
    text = head + pattern + tail
    return (text or None), None


def _tpl_literal(rule: Rule, pattern: str) -> RuleOutcome | None:
    """TPL patterns are literal but for `*`: refuse characters urlFilter reads otherwise."""
    if not pattern.isascii():
        return dropped(rule, "non-ascii-pattern")
    if "^" in pattern or pattern.strip("*").startswith("|") or pattern.strip("*").endswith("|"):
        return dropped(rule, "literal-separator")
    return None


def _scheme_variants(rule: Rule) -> list[str]:
    """TPL scheme equivalence (§A.5.2): `http://x` also matches `https://x`."""
    pattern = rule.pattern
    if not rule.scheme_equivalence:
        return [pattern]
    low = pattern.lower()
    for plain, secure in (("http://", "https://"), ("ws://", "wss://")):
        if low.startswith(plain):
            return [pattern, secure + pattern[len(plain) :]]
    return [pattern]


def _base(rule: Rule) -> tuple[dict[str, Any], RuleOutcome | None]:
    """Action, priority and the context conditions shared by every part of a rule."""
    condition: dict[str, Any] = {}
    note: RuleOutcome | None = None
    if rule.party is Party.THIRD:
        condition["domainType"] = "thirdParty"
    elif rule.party is Party.FIRST:
        condition["domainType"] = "firstParty"
    domains, dnote = _domains(rule)
    if dnote is not None:
        if dnote.fate.value == "dropped":
            return {}, dnote
        note = dnote
    condition.update(domains)
    if rule.denyallow:
        condition["excludedRequestDomains"] = sorted(set(rule.denyallow))
    if rule.match_case:
        condition["isUrlFilterCaseSensitive"] = True
    if rule.removeparam is not None:
        action: dict[str, Any] = {"type": "redirect"}
        if rule.removeparam:
            action["redirect"] = {
                "transform": {"queryTransform": {"removeParams": [rule.removeparam]}}
            }
        else:
            action["redirect"] = {"transform": {"query": ""}}
        priority = PRIORITY_REMOVEPARAM
    elif rule.action is Action.ALLOW:
        action, priority = {"type": "allow"}, PRIORITY_ALLOW
    else:
        action = {"type": "block"}
        priority = PRIORITY_IMPORTANT if rule.important else PRIORITY_BLOCK
    return {"action": action, "priority": priority, "condition": condition}, note


def _with(base: dict[str, Any], **condition: Any) -> dict[str, Any]:
    """A copy of `base` with more conditions (the shared action dict is never mutated)."""
    return {**base, "condition": {**base["condition"], **condition}}


def _pattern_parts(rule: Rule, base: dict[str, Any]) -> list[_Part]:
    """The parts that carry the URL pattern of a rule (one or several DNR rules)."""
    if rule.regex is not None:
        problem = _check_regex(rule)
        if problem is not None:
            return [({}, None, problem)]
        return [(_with(base, regexFilter=rule.regex), None, exact(rule))]
    host = suffix_host(rule)
    if host is not None and rule.syntax is Format.ABP:
        if is_ip_literal(host):
            return [(_with(base, urlFilter=f"||{host}^"), None, exact(rule))]
        return [(_with(base, requestDomains=[host]), host, exact(rule))]
    if rule.syntax is Format.ABP:
        text, problem = _url_filter(rule)
        if problem is not None:
            return [({}, None, problem)]
        part = _with(base, urlFilter=text) if text else _with(base)
        return [(part, None, exact(rule))]
    return _host_mode_parts(rule, base)


def _host_mode_parts(rule: Rule, base: dict[str, Any]) -> list[_Part]:
    """TPL and hosts rules: a host condition (by mode) and a literal TPL pattern."""
    parts: list[_Part] = []
    patterns = _scheme_variants(rule) if rule.pattern else [""]
    for pattern in patterns:
        if pattern:
            problem = _tpl_literal(rule, pattern)
            if problem is not None:
                return [({}, None, problem)]
    host = rule.host
    if rule.host_mode is not HostMode.NONE and host.startswith("["):
        return [({}, None, dropped(rule, "ipv6-host"))]
    for pattern in patterns:
        extra = {"urlFilter": pattern} if pattern else {}
        if rule.host_mode is HostMode.NONE:
            parts.append((_with(base, **extra), None, exact(rule)))
            continue
        merge = host if not pattern else None
        parts.append((_with(base, requestDomains=[host], **extra), merge, exact(rule)))
        if rule.host_mode is HostMode.LABELS and not is_ip_literal(host):
            # The label run followed by more labels (`tracker.example.net`).
            if not pattern:
                parts.append((_with(base, urlFilter=f"||{host}."), None, exact(rule)))
            elif tpl_pattern_follows_host(host, pattern):
                pat = pattern if pattern.startswith("*") else "*" + pattern
                parts.append((_with(base, urlFilter=f"||{host}.{pat}"), None, exact(rule)))
            else:
                parts.append(({}, None, dropped(rule, "tpl-label-run")))
    return parts


def convert_rule(rule: Rule) -> tuple[list[tuple[dict[str, Any], str | None]], RuleOutcome]:
    """DNR rules (without ids) for one trackguard rule, and how faithful they are.

    Each returned rule comes with the host it may be merged under (`requestDomains`
    of one host and nothing else host-specific), or None.
    """
    if rule.removeparam is not None:
        if rule.action is Action.ALLOW:
            return [], dropped(rule, "keepparam")
        value = rule.removeparam
        if value.startswith(("~", "/")):
            return [], dropped(rule, "removeparam-pattern")
    if rule.host_mode is not HostMode.NONE and not rule.host:
        return [], dropped(rule, "not-host-only")
    base, note = _base(rule)
    if not base:
        assert note is not None
        return [], note
    notes: list[RuleOutcome] = [note] if note is not None else []
    if rule.removeparam is not None:
        notes.append(narrowed(rule, "removeparam-exceptions"))
    parts: list[_Part] = []
    types = rule.types
    if rule.action is Action.ALLOW and types & RequestType.DOCUMENT and rule.removeparam is None:
        # `@@...$document`: no blocking on pages whose URL matches (engine: the page's
        # URL judged as a document). allowAllRequests covers the navigation itself too.
        if rule.party is not Party.ANY or rule.include_domains or rule.exclude_domains:
            notes.append(dropped(rule, "document-exception-context"))
        else:
            page = _with(base, resourceTypes=["main_frame"])
            page["action"] = {"type": "allowAllRequests"}
            parts.extend(_pattern_parts(rule, page))
        types &= ~RequestType.DOCUMENT
        if not types & ~RequestType.POPUP:
            if types & RequestType.POPUP:
                notes.append(narrowed(rule, "popup-partly"))
            return _finish(rule, parts, notes)
        rule_rest = _retyped(rule, types)
    else:
        rule_rest = rule
    resource_types, tnote = _resource_types(rule_rest)
    if tnote is not None:
        notes.append(tnote)
    if resource_types == []:
        return _finish(rule, parts, notes)
    typed = _with(base, resourceTypes=resource_types) if resource_types is not None else base
    parts.extend(_pattern_parts(rule_rest, typed))
    return _finish(rule, parts, notes)


def _retyped(rule: Rule, types: RequestType) -> Rule:
    return rule._replace(types=types)


def _finish(
    rule: Rule, parts: list[_Part], notes: list[RuleOutcome]
) -> tuple[list[tuple[dict[str, Any], str | None]], RuleOutcome]:
    outcomes = [p[2] for p in parts] + notes
    written = [(p[0], p[1]) for p in parts if p[0]]
    outcome = worst(outcomes, rule)
    if outcome.rule is not rule:
        outcome = RuleOutcome(rule, outcome.fate, outcome.reason, outcome.detail)
    if not written and outcome.fate.value != "dropped":
        outcome = dropped(rule, outcome.reason or "types")
    return written, outcome


def _slug(list_id: str, prefix: str) -> str:
    body = "".join(c if c.isascii() and c.isalnum() else "_" for c in list_id.lower())
    body = body.strip("_")[:40] or "list"
    return f"{prefix}_{body}"


def export_dnr(rules: Sequence[Rule], options: DnrOptions = DnrOptions()) -> FormatOutput:
    """Static rulesets, one or more per list, plus explain files and a ruleset index.

    Files: `rulesets/<id>.json` (Chrome's rule array), `explain/<id>.json` (rule id ->
    [[list, line, text, host-or-null], ...]) and `rulesets.json` (the
    `declarative_net_request.rule_resources` entries with each ruleset's list and size).
    """
    outcomes: dict[int, RuleOutcome] = {}
    by_list: dict[str, list[tuple[int, dict[str, Any], str | None]]] = {}
    regex_used = 0
    for index, rule in enumerate(rules):
        written, outcome = convert_rule(rule)
        if any("regexFilter" in r["condition"] for r, _ in written):
            if regex_used + 1 > options.max_regex_rules:
                written, outcome = [], dropped(rule, "regex-count-limit")
            else:
                regex_used += 1
        outcomes[index] = outcome
        bucket = by_list.setdefault(rule.source.list_id, [])
        for dnr_rule, host in written:
            bucket.append((index, dnr_rule, host))

    files: dict[str, str] = {}
    resources: list[dict[str, Any]] = []
    total_enabled = 0
    used_ids: set[str] = set()
    for list_id, items in by_list.items():
        merged = _merge(items, rules)
        slug = _slug(list_id, options.ruleset_prefix)
        chunks = [
            merged[i : i + options.max_rules_per_ruleset]
            for i in range(0, len(merged), options.max_rules_per_ruleset)
        ] or [[]]
        for n, chunk in enumerate(chunks, 1):
            rid = slug if n == 1 else f"{slug}_{n}"
            while rid in used_ids:
                rid += "_"
            used_ids.add(rid)
            if len(resources) >= MAX_NUMBER_OF_STATIC_RULESETS:
                for _, refs in chunk:
                    for idx in refs:
                        outcomes[idx] = dropped(rules[idx], "ruleset-limit")
                continue
            enabled = len([r for r in resources if r["enabled"]]) < (
                MAX_NUMBER_OF_ENABLED_STATIC_RULESETS
            )
            dnr_rules = []
            explain: dict[str, list[list[Any]]] = {}
            for rule_id, (dnr_rule, refs) in enumerate(chunk, 1):
                dnr_rules.append({"id": rule_id, **dnr_rule})
                explain[str(rule_id)] = [
                    [
                        rules[i].source.list_id,
                        rules[i].source.line,
                        rules[i].source.text,
                        host,
                    ]
                    for i, host in refs.items()
                ]
            files[f"rulesets/{rid}.json"] = json.dumps(dnr_rules, separators=(",", ":"))
            files[f"explain/{rid}.json"] = json.dumps(explain, separators=(",", ":"))
            resources.append(
                {
                    "id": rid,
                    "enabled": enabled,
                    "path": f"rulesets/{rid}.json",
                    "list": list_id,
                    "rules": len(dnr_rules),
                }
            )
            if enabled:
                total_enabled += len(dnr_rules)
    files["rulesets.json"] = json.dumps(resources, indent=1)
    notes = []
    if total_enabled > GUARANTEED_MINIMUM_STATIC_RULES:
        notes.append(
            f"{total_enabled:,} rules in enabled rulesets: over Chrome's guaranteed "
            f"{GUARANTEED_MINIMUM_STATIC_RULES:,}; the rest comes from the global pool "
            "shared by all extensions and may not be available"
        )
    disabled = [r["id"] for r in resources if not r["enabled"]]
    if disabled:
        notes.append(
            f"{len(disabled)} ruleset(s) beyond Chrome's {MAX_NUMBER_OF_ENABLED_STATIC_RULESETS}"
            f" enabled rulesets are shipped disabled: {', '.join(disabled[:5])}"
        )
    ordered = [outcomes[i] for i in range(len(rules))]
    stats = {
        "dnr_rules": sum(r["rules"] for r in resources),
        "rulesets": len(resources),
        "regex_rules": regex_used,
    }
    return FormatOutput(files, ordered, notes, stats)


def _merge(
    items: list[tuple[int, dict[str, Any], str | None]], rules: Sequence[Rule]
) -> list[tuple[dict[str, Any], dict[int, str | None]]]:
    """Merge one list's DNR rules: identical rules once; single-host rules that differ
    only in `requestDomains` into one rule with all those hosts (sorted, for stable
    output). Returns (rule, {source rule index: host or None})."""
    out: list[tuple[dict[str, Any], dict[int, str | None]]] = []
    by_key: dict[str, int] = {}
    hosts_of: dict[int, set[str]] = {}
    for index, dnr_rule, host in items:
        if host is not None and is_plain_host(host):
            condition = {k: v for k, v in dnr_rule["condition"].items() if k != "requestDomains"}
            key = "H" + json.dumps({**dnr_rule, "condition": condition}, sort_keys=True)
        else:
            key = "R" + json.dumps(dnr_rule, sort_keys=True)
        at = by_key.get(key)
        if at is None:
            by_key[key] = len(out)
            if host is not None:  # own the list: more hosts are appended to it
                dnr_rule = {**dnr_rule, "condition": {**dnr_rule["condition"]}}
                dnr_rule["condition"]["requestDomains"] = [host]
                hosts_of[len(out)] = {host}
            out.append((dnr_rule, {index: host}))
            continue
        merged_rule, refs = out[at]
        refs.setdefault(index, host)
        if key[0] == "H":
            assert host is not None
            seen = hosts_of[at]
            if host not in seen:
                seen.add(host)
                merged_rule["condition"]["requestDomains"].append(host)
    for dnr_rule, _ in out:
        domains = dnr_rule["condition"].get("requestDomains")
        if domains is not None:
            domains.sort()
    return out
