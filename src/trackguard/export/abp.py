"""Adblock Plus filter lists from trackguard rules.

Rule 1: ABP syntax can say everything the engine applies, so Adblock Plus rules are
written as their source line, unchanged.
Rule 2: hosts entries become `||host^`; TPL rules (third-party only, §A.5) become filters
with `$third-party`. A TPL block domain matches its labels anywhere in the host
(§A.5.1), which is two ABP filters: `||host^` (the host ends with the labels) and
`||host.` (more labels follow). A TPL pattern is literal but for `*`, so one that
contains a character ABP reads specially (`^`, `$`, an edge `|`, a cosmetic `#` marker) is
dropped rather than reinterpreted.

No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence

from trackguard.export.report import FormatOutput, RuleOutcome, dropped, exact
from trackguard.export.shapes import tpl_pattern_follows_host
from trackguard.model import Action, Format, HostMode, Rule

HEADER = "[Adblock Plus 2.0]"
_COSMETIC = ("##", "#@#", "#?#", "#$#", "#%#")


def _literal_problem(pattern: str) -> str | None:
    core = pattern.strip("*")
    if "^" in pattern or "$" in pattern or core.startswith("|") or core.endswith("|"):
        return "literal-separator"
    if any(m in pattern for m in _COSMETIC) or pattern.startswith(("@@", "!", "[")):
        return "literal-separator"
    if any(c in pattern for c in " \t\r\n"):
        return "whitespace"
    return None


def _body(pattern: str) -> str:
    """A literal TPL pattern as an ABP pattern body (never read as `/regex/`)."""
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        return pattern + "*"
    return pattern


def _variants(rule: Rule) -> list[str]:
    pattern = rule.pattern
    if rule.scheme_equivalence:
        low = pattern.lower()
        for plain, secure in (("http://", "https://"), ("ws://", "wss://")):
            if low.startswith(plain):
                return [pattern, secure + pattern[len(plain) :]]
    return [pattern]


def convert_tpl_or_hosts(rule: Rule) -> tuple[list[str], RuleOutcome]:
    """ABP filter lines for a TPL or hosts rule, and how faithful they are."""
    suffix = "$third-party" if rule.syntax is Format.TPL else ""
    allow = "@@" if rule.action is Action.ALLOW else ""
    host = rule.host
    if host.startswith("["):
        return [], dropped(rule, "ipv6-host")
    patterns = _variants(rule) if rule.pattern else []
    for p in patterns:
        problem = _literal_problem(p)
        if problem is not None:
            return [], dropped(rule, problem)
    if rule.host_mode is HostMode.NONE:
        return [f"{allow}{_body(p)}{suffix}" for p in patterns], exact(rule)
    labels = rule.host_mode is HostMode.LABELS
    if not patterns:
        lines = [f"{allow}||{host}^{suffix}"]
        if labels:
            lines.append(f"{allow}||{host}.{suffix}")
        return lines, exact(rule)
    lines = []
    for p in patterns:
        if not tpl_pattern_follows_host(host, p):
            return [], dropped(rule, "abp-label-run-pattern")
        # The pattern starts with `/` after the host: at the path start, later in the
        # path, after a port, or (label runs) after more labels.
        tails = [f"||{host}{p}", f"||{host}/*{p}", f"||{host}:*{p}"]
        if labels:
            tails.append(f"||{host}.*{p}")
        lines += [f"{allow}{t}{suffix}" for t in tails]
    return lines, exact(rule)


def export_abp(rules: Sequence[Rule], *, title: str | None = None) -> FormatOutput:
    lines = [HEADER]
    if title:
        lines.append(f"! Title: {' '.join(title.split())}")
    outcomes: list[RuleOutcome] = []
    seen: set[str] = set()
    for rule in rules:
        if rule.syntax is Format.ABP:
            out, outcome = [rule.source.text], exact(rule)
        else:
            out, outcome = convert_tpl_or_hosts(rule)
        outcomes.append(outcome)
        for line in out:
            if line not in seen:
                seen.add(line)
                lines.append(line)
    return FormatOutput(
        {"list.txt": "\n".join(lines) + "\n"}, outcomes, [], {"filters": len(lines) - 1}
    )
