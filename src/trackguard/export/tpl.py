"""IE9 Tracking Protection Lists from trackguard rules (TPL spec §A.11).

Rule 1: TPL rules are third-party, case-insensitive substring rules on the URL with an
optional domain (§A.5); block domains match label runs, allow domains right-most labels.
Only rules with that meaning carry over exactly. A rule that applies to first- and
third-party requests alike is narrowed to third-party (TPL's only mode).
Rule 2: nothing is widened. `||host^` has no TPL form: `-d host` would also match
`host.other.example` and `- ://host/` would also match inside a query string, so such
rules are dropped. An ABP pattern starting with `http://` is dropped too, because TPL's
scheme equivalence (§A.5.2) would make it match `https://` as well.

TPL rules themselves come back unchanged, so TPL -> engine -> TPL keeps the rule set.
No I/O here; the writer is `lists.tpl.format_tpl`.
"""

from __future__ import annotations

from collections.abc import Sequence

from trackguard.export.report import FormatOutput, RuleOutcome, dropped, exact, narrowed
from trackguard.export.shapes import suffix_host
from trackguard.lists.tpl import format_tpl
from trackguard.model import DEFAULT_TYPES, Action, Anchor, Format, HostMode, Party, Rule


def _plain(rule: Rule) -> bool:
    """No option TPL lacks (party is judged separately)."""
    return (
        rule.regex is None
        and not rule.match_case
        and rule.types == DEFAULT_TYPES
        and not rule.include_domains
        and not rule.exclude_domains
        and not rule.denyallow
        and rule.removeparam is None
    )


def _convert(rule: Rule) -> tuple[Rule | None, RuleOutcome]:
    if rule.syntax is Format.TPL:
        return rule, exact(rule)
    if rule.regex is not None:
        return None, dropped(rule, "regex")
    if rule.removeparam is not None:
        return None, dropped(rule, "removeparam")
    if not _plain(rule) or rule.party is Party.FIRST:
        return None, dropped(rule, "tpl-options")
    party_note = rule.party is Party.ANY
    if rule.action is Action.ALLOW:
        host = suffix_host(rule)
        if host is None or host.startswith("["):
            return None, dropped(rule, "tpl-no-host-anchor")
        out = rule._replace(
            syntax=Format.TPL,
            pattern="",
            anchor=Anchor.NONE,
            host=host,
            host_mode=HostMode.SUFFIX,
            party=Party.THIRD,
        )
        return out, narrowed(rule, "tpl-third-party-only") if party_note else exact(rule)
    if rule.host_mode is not HostMode.NONE or rule.anchor & Anchor.HOST:
        return None, dropped(rule, "tpl-no-host-anchor")
    if rule.anchor is not Anchor.NONE:
        return None, dropped(rule, "tpl-options", "TPL patterns have no `|` anchors")
    pattern = rule.pattern
    if "^" in pattern:
        return None, dropped(rule, "tpl-options")  # a separator class TPL lacks
    if any(c in pattern for c in " \t\r\n"):
        return None, dropped(rule, "whitespace")
    low = pattern.lower()
    if low.startswith(("http://", "ws://")):
        return None, dropped(rule, "tpl-options", "TPL would also match https:// / wss://")
    if not pattern.strip("*"):
        return None, dropped(rule, "tpl-options")
    out = rule._replace(syntax=Format.TPL, party=Party.THIRD, important=False, redirect=None)
    if party_note:
        return out, narrowed(rule, "tpl-third-party-only")
    if rule.important:
        return out, narrowed(rule, "tpl-options", "`$important` lost: TPL allows can lift it")
    return out, exact(rule)


def export_tpl(
    rules: Sequence[Rule], *, title: str | None = None, expires_days: int | None = None
) -> FormatOutput:
    """One `.tpl` file in canonical form, duplicates written once."""
    outcomes: list[RuleOutcome] = []
    written: list[Rule] = []
    seen: set[tuple[object, ...]] = set()
    for rule in rules:
        out, outcome = _convert(rule)
        if out is not None:
            key = (out.action, out.host, out.host_mode, out.pattern)
            try:
                format_tpl([out])
            except ValueError as exc:
                outcome = dropped(rule, "tpl-options", str(exc))
            else:
                if key not in seen:
                    seen.add(key)
                    written.append(out)
        outcomes.append(outcome)
    text = format_tpl(written, title=title, expires_days=expires_days)
    return FormatOutput({"list.tpl": text}, outcomes, [], {"tpl_rules": len(written)})
