"""The personalized list as people and other tools see it (learning.md §B7, §B10).

Pure: state, context and the user's choices in; list items, explanations, export text and
imported decisions out. The CLI and the dashboard only format these values. Exports hold
decisions and evidence summaries, never site tags (§B10).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from trackguard.domain import host_suffixes, to_ascii_host
from trackguard.learn.core import (
    LearnContext,
    LearnState,
    Summary,
    TrackerRow,
    decide,
    gate,
)
from trackguard.learn.keys import tracker_key
from trackguard.learn.model import Kind, Mode, Remedy, Source, kinds_from_names

EXPORT_FORMAT = "trackguard-personalized-list"
MAX_IMPORT = 100_000


def iso_day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _no_list(_domain: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class UserChoices:
    """The layers above learning that a listing names (§B7 steps 1-3)."""

    user_allow: frozenset[str] = frozenset()
    user_block: frozenset[str] = frozenset()
    verdicts: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: domain -> list layer name ("list-allow" / "list-block"), or None
    list_layer: Callable[[str], str | None] = _no_list


def _suffix_in(host: str, domains: frozenset[str]) -> str | None:
    for suffix in host_suffixes(host):
        if suffix in domains:
            return suffix
    return None


def suggested_action(summary: Summary, ctx: LearnContext) -> Remedy:
    """The remedy shown for a tracker: its recorded decision, else what `decide` says now."""
    if summary.decision is not Remedy.NONE:
        return summary.decision
    return decide(summary, ctx).action


def winning_layer(
    domain: str, summary: Summary, ctx: LearnContext, choices: UserChoices, today: int
) -> tuple[str, str]:
    """(layer, why) of §B7 that decides requests to `domain` today."""
    host = domain.split("/", 1)[0]
    allow = _suffix_in(host, choices.user_allow)
    block = _suffix_in(host, choices.user_block)
    if allow is not None and (block is None or len(allow) >= len(block)):
        return "user-allow", f"your override allows {allow}"
    if block is not None:
        return "user-block", f"your override blocks {block}"
    verdict = choices.verdicts.get(domain)
    if verdict is not None and verdict[0] == "rejected":
        return "user-reject", "you rejected this suggestion"
    if verdict is not None and verdict[0] == "accepted":
        return "user-accept", f"you accepted this suggestion ({verdict[1]})"
    listed = choices.list_layer(host)
    if listed is not None:
        return listed, "a subscribed list decides this domain"
    g = gate(summary, ctx, today)
    if g.enforced:
        return "learned", g.reason
    return "default-allow", g.reason


def summaries(state: LearnState) -> list[Summary]:
    return [state.summary(t) for t in sorted(state.trackers)]


def dnt_hosts(tracker: str, dnt: Mapping[str, tuple[bool, int]]) -> dict[str, bool]:
    """The tracker's hosts whose DNT policy was checked: host -> posts a known policy."""
    host = tracker.split("/", 1)[0]
    return {
        fqdn: compliant
        for fqdn, (compliant, _next) in sorted(dnt.items())
        if fqdn == host or tracker_key(fqdn) == host
    }


def item(
    summary: Summary,
    ctx: LearnContext,
    choices: UserChoices,
    today: int,
    dnt: Mapping[str, tuple[bool, int]] | None = None,
) -> dict[str, Any]:
    """One `learn list --json` item (the shape issue 13 fixes, plus explanation fields)."""
    action = suggested_action(summary, ctx)
    layer, why = winning_layer(summary.tracker, summary, ctx, choices, today)
    checked = dnt_hosts(summary.tracker, dnt or {})
    exempt = [fqdn for fqdn, compliant in checked.items() if compliant]
    if exempt and layer == "learned":
        why += (
            f"; except {', '.join(exempt)}: posts the EFF Do Not Track policy, so the"
            " personalized list leaves it alone (DNT-policy exemption)"
        )
    verdict = choices.verdicts.get(summary.tracker)
    reason = decide(summary, ctx).reason if summary.source is Source.LEARNED else "imported"
    return {
        "domain": summary.tracker,
        "sites": summary.sites,
        "days": summary.last_day - summary.first_day + 1,
        "kinds": summary.kinds.names,
        "action": None if action is Remedy.NONE else action.value,
        # An accepted block is your override now (layer user-block): enforced all the same.
        "enforced": action is not Remedy.NONE
        and (
            layer in ("learned", "user-accept")
            or (layer == "user-block" and verdict is not None and verdict[0] == "accepted")
        ),
        "first_day": iso_day(summary.first_day),
        "last_day": iso_day(summary.last_day),
        "threshold": ctx.config.threshold,
        "reason": reason,
        "layer": layer,
        "layer_reason": why,
        "verdict": verdict[0] if verdict else None,
        "source": summary.source.value,
        "dnt_policy": checked,
    }


def presence_items(state: LearnState, ctx: LearnContext) -> list[dict[str, Any]]:
    """IE-compatible presence mode items (TPL spec §B.2), most used first."""
    if not ctx.config.presence:
        return []
    t = ctx.config.presence_threshold
    rows = sorted(state.presence_counts().items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        {
            "domain": name,
            "provider": tracker_key(name.split("/", 1)[0]) or name,
            "sites": count,
            "kinds": ["presence"],
            "action": "path" if count >= t else None,
            "enforced": ctx.config.mode is Mode.AUTO and count >= t,
            "threshold": t,
            "reason": f"used by {count} sites (presence mode, threshold {t})",
            "source": "presence",
        }
        for name, count in rows
    ]


def listing(
    state: LearnState, ctx: LearnContext, choices: UserChoices, today: int
) -> list[dict[str, Any]]:
    out = [item(s, ctx, choices, today, state.dnt) for s in summaries(state)]
    out.sort(key=lambda i: (i["action"] is None, -i["sites"], i["domain"]))
    return out + presence_items(state, ctx)


# -- export and import ---------------------------------------------------------------------


def export_json(items: Iterable[dict[str, Any]]) -> str:
    trackers = [
        {k: i[k] for k in ("domain", "action", "kinds", "sites", "first_day", "last_day", "source")}
        for i in items
        if i["action"] is not None and i.get("verdict") != "rejected"
    ]
    return json.dumps({"format": EXPORT_FORMAT, "version": 1, "trackers": trackers}, indent=2)


def export_tpl(items: Iterable[dict[str, Any]], today: int) -> str:
    """An `msFilterList` (TPL spec §A.11): `-d` for blocks and path rules; strip as comments."""
    lines = [
        "msFilterList",
        "# Title: Personalized list (trackguard)",
        f"# Exported {iso_day(today)} from trackguard's learner; one rule per learned decision.",
        ": Expires=7",
    ]
    for i in items:
        action = i["action"]
        if action is None or i.get("verdict") == "rejected":
            continue
        domain = str(i["domain"]).lower()
        host, slash, path = domain.partition("/")
        if action == "block":
            lines.append(f"-d {host}")
        elif action == "path" and slash:
            lines.append(f"-d {host} /{path}")
        elif action == "strip":
            lines.append(f"# strip (cookies removed, no TPL form): {host}")
    return "\n".join(lines) + "\n"


def parse_import(text: str, today: int) -> dict[str, TrackerRow]:
    """Decisions from an exported JSON file, as `source=imported` rows (no evidence).

    Raises ValueError with a message a person can act on when the file is not an export.
    """
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ValueError(f"not a trackguard personalized-list export (format {EXPORT_FORMAT!r})")
    rows: dict[str, TrackerRow] = {}
    entries = data.get("trackers")
    if not isinstance(entries, list):
        raise ValueError("the export has no 'trackers' array")
    for entry in entries[:MAX_IMPORT]:
        if not isinstance(entry, dict):
            continue
        domain = entry.get("domain")
        action = entry.get("action")
        if not isinstance(domain, str) or action not in ("block", "strip", "path"):
            continue
        host, slash, path = domain.partition("/")
        key = tracker_key(to_ascii_host(host)) if not slash else to_ascii_host(host)
        if not key:
            continue
        name = (host if slash else key) + (f"/{path[:512]}" if slash else "")
        if action == "path" and not slash:
            continue
        kinds = entry.get("kinds")
        bits = kinds_from_names(kinds) if isinstance(kinds, list) else Kind(0)
        sites = entry.get("sites")
        rows[name] = TrackerRow(
            kinds=int(bits),
            site_count=sites if isinstance(sites, int) and sites >= 0 else 0,
            first_day=today,
            last_day=today,
            decision=Remedy(action),
            decided_day=today,
            source=Source.IMPORTED,
        )
    return rows


def merge_import(state: LearnState, rows: Mapping[str, TrackerRow]) -> int:
    """Add imported decisions; learned rows already present are left as they are."""
    added = 0
    for name, row in rows.items():
        current = state.trackers.get(name)
        if current is None or current.source is not Source.LEARNED:
            state.trackers[name] = row
            if row.decision is Remedy.PATH:
                host, _, path = name.partition("/")
                state.path_rules.add((host, "/" + path))
            added += 1
    return added
