"""What an export did with every rule: carried over exactly, narrowed, or dropped, and why.

Rule 1: every rule that goes into an exporter comes out with exactly one `RuleOutcome`;
`ExportReport` checks that count, so nothing is dropped silently.
Rule 2: a rule is only ever *narrowed* (its exported form matches a subset of the requests
the source rule matches) or dropped; an exporter never writes a broader form. The reason
codes are stable (tests and `--json` users assert on them).

No I/O here: the CLI writes `ExportReport.to_json()` / `to_text()` where it is asked to.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trackguard.model import Rule

#: Examples kept per (fate, reason) in the summary; the JSON report lists every rule that
#: was not carried over exactly.
EXAMPLES = 5


class Fate(enum.Enum):
    EXACT = "exact"  # the exported form decides exactly as the source rule
    NARROWED = "narrowed"  # the exported form matches a strict subset of the source's requests
    DROPPED = "dropped"  # nothing was written for this rule


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    rule: Rule
    fate: Fate
    reason: str = ""  # stable code, "" for exact
    detail: str = ""  # one human sentence, optional

    def to_json(self) -> dict[str, Any]:
        src = self.rule.source
        out: dict[str, Any] = {
            "list": src.list_id,
            "line": src.line,
            "rule": src.text,
            "fate": self.fate.value,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.detail:
            out["detail"] = self.detail
        return out


#: Human text for each reason code (`to_text`); a code missing here prints as itself.
REASONS: dict[str, str] = {
    "badfilter": "a `$badfilter` rule (it only cancels its twin)",
    "disabled-by-badfilter": "cancelled by a `$badfilter` rule",
    "disabled-by-user": "switched off by you (`trackguard rule off`)",
    "bad-regex": "regular expression the engine rejects",
    "regex-chrome-limit": "regex over Chrome's compiled-size limit (2 KiB RE2 program)",
    "regex-count-limit": "over Chrome's 1,000 regex rules",
    "regex-unsupported": "regex uses syntax the target cannot express",
    "regex": "regex filters have no equivalent in this format",
    "non-ascii-pattern": "pattern with non-ASCII characters (browsers match encoded URLs)",
    "literal-separator": "TPL pattern with a literal `^` or edge `|` (special in the target)",
    "entity-domain": "`domain=name.*` entity has no equivalent",
    "entity-domain-partly": "`domain=name.*` entries left out (other domains kept)",
    "include-under-exclude": "an included page domain sits under an excluded one",
    "include-and-exclude": "the target cannot combine included and excluded page domains",
    "popup": "`$popup` has no equivalent",
    "popup-partly": "`$popup` left out (other types kept)",
    "object-type": "`$object` has no equivalent type",
    "object-partly": "`$object` left out (other types kept)",
    "keepparam": "`@@...$removeparam` exceptions have no equivalent",
    "removeparam-pattern": "`$removeparam` with a regex or `~` value",
    "removeparam": "`$removeparam` has no equivalent in this format",
    "removeparam-exceptions": "in Chrome an exception (`@@`) also stops the parameter removal",
    "document-exception-context": "`$document` exception with party or domain options",
    "denyallow": "`$denyallow` has no equivalent in this format",
    "tpl-pattern-overlap": "TPL domain + pattern: pattern may also match before the host",
    "tpl-label-run": "TPL `-d` matches the labels anywhere in the host; only the suffix form kept",
    "ipv6-host": "IPv6 literal host",
    "not-host-only": "needs more than the host name (path, type, page or party)",
    "party": "first/third-party only: DNS cannot see the page",
    "ip-host": "IP literal: DNS never resolves it",
    "hosts-no-subdomains": "hosts files block the exact name only, not its subdomains",
    "hosts-no-exceptions": "hosts files cannot express exceptions",
    "allowed-by-exception": "an exception lifts the block on this host",
    "under-important-block": "an `$important` block covers this exception's host",
    "tpl-no-host-anchor": "TPL has no host-anchored form that is not broader",
    "tpl-options": "TPL cannot express these options",
    "tpl-third-party-only": "TPL rules apply to third-party requests only",
    "abp-label-run-pattern": "TPL `-d` + pattern has no exact Adblock Plus form",
    "match-case": "`$match-case` has no equivalent in this format",
    "types": "request types the target cannot express",
    "whitespace": "pattern contains whitespace",
    "ruleset-limit": "over the static ruleset limits",
}


@dataclass(slots=True)
class FormatOutput:
    """What one exporter produced: files (relative name -> text) and one outcome per rule."""

    files: dict[str, str]
    outcomes: list[RuleOutcome]
    notes: list[str] = field(default_factory=list)  # format-level caveats for people
    stats: dict[str, Any] = field(default_factory=dict)  # e.g. rules written per ruleset


@dataclass(slots=True)
class ExportReport:
    """The per-rule accounting of one export, in the shape the CLI prints."""

    format: str
    lists: list[str]
    rules_in: int
    output: FormatOutput

    def __post_init__(self) -> None:
        if len(self.output.outcomes) != self.rules_in:
            raise AssertionError(
                f"{self.format}: {self.rules_in} rules in but {len(self.output.outcomes)} "
                "outcomes: an exporter lost track of a rule"
            )

    def counts(self) -> Counter[str]:
        return Counter(o.fate.value for o in self.output.outcomes)

    def by_reason(self) -> dict[tuple[str, str], list[RuleOutcome]]:
        groups: dict[tuple[str, str], list[RuleOutcome]] = {}
        for o in self.output.outcomes:
            if o.fate is not Fate.EXACT:
                groups.setdefault((o.fate.value, o.reason), []).append(o)
        return dict(sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]), kv[0][1])))

    def to_json(self, *, every_rule: bool = True) -> dict[str, Any]:
        counts = self.counts()
        reasons = [
            {
                "fate": fate,
                "reason": reason,
                "text": REASONS.get(reason, reason),
                "count": len(items),
                "examples": [o.to_json() for o in items[:EXAMPLES]],
            }
            for (fate, reason), items in self.by_reason().items()
        ]
        out: dict[str, Any] = {
            "format": self.format,
            "lists": self.lists,
            "rules_in": self.rules_in,
            "exact": counts.get("exact", 0),
            "narrowed": counts.get("narrowed", 0),
            "dropped": counts.get("dropped", 0),
            "reasons": reasons,
            "notes": self.output.notes,
            "files": sorted(self.output.files),
            "stats": self.output.stats,
        }
        if every_rule:
            out["not_exact"] = [
                o.to_json() for o in self.output.outcomes if o.fate is not Fate.EXACT
            ]
        return out

    def to_text(self) -> str:
        counts = self.counts()
        lines = [
            f"export {self.format}: {self.rules_in:,} rules in from {len(self.lists)} list(s)",
            f"  exact {counts.get('exact', 0):,}   narrowed {counts.get('narrowed', 0):,}"
            f"   dropped {counts.get('dropped', 0):,}",
        ]
        for (fate, reason), items in self.by_reason().items():
            text = REASONS.get(reason, reason)
            lines.append(f"  {fate:<8} {len(items):>7,}  {reason}: {text}")
            for o in items[:2]:
                src = o.rule.source
                rule_text = src.text if len(src.text) <= 60 else src.text[:57] + "..."
                lines.append(f"             e.g. {src.list_id}:{src.line} {rule_text}")
        for note in self.output.notes:
            lines.append(f"  note: {note}")
        for name, value in sorted(self.output.stats.items()):
            lines.append(f"  {name}: {value}")
        return "\n".join(lines)


def exact(rule: Rule) -> RuleOutcome:
    return RuleOutcome(rule, Fate.EXACT)


def narrowed(rule: Rule, reason: str, detail: str = "") -> RuleOutcome:
    return RuleOutcome(rule, Fate.NARROWED, reason, detail)


def dropped(rule: Rule, reason: str, detail: str = "") -> RuleOutcome:
    return RuleOutcome(rule, Fate.DROPPED, reason, detail)


def worst(outcomes: Iterable[RuleOutcome], rule: Rule) -> RuleOutcome:
    """Combine the outcomes of one rule's parts: dropped only if every part was dropped."""
    items: Sequence[RuleOutcome] = list(outcomes)
    if len(items) == 1 and items[0].fate is Fate.EXACT:
        return items[0]
    if not items:
        return dropped(rule, "types")
    kept = [o for o in items if o.fate is not Fate.DROPPED]
    if not kept:
        return items[0]
    for o in kept:
        if o.fate is Fate.NARROWED:
            return o
    for o in items:
        if o.fate is Fate.DROPPED:
            return narrowed(rule, o.reason, o.detail)
    return kept[0]
