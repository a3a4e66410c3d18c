"""Turn a `Tally` into the report: plain, JSON-ready data that every format renders.

Rule 1: deterministic. Every list is sorted with a full tie-break, so equal tallies give
byte-identical reports however the partitions were scheduled.
Rule 2: the JSON shape is a contract for scripts: `summary` (at least `pages`, `sites`,
`requests`, `third_party_requests`, `blocked_by_lists`, `stopped_by_tunnels`) and
`trackers` (each with `domain`, `company`, `sites`, `requests`, `blocked`). Add keys,
never rename them. Rule 3: no I/O, no engine: figures only.

Definitions: a *site* is a registrable domain (PSL, private section included); a page's
site is the site of its top-level URL; `summary.sites` counts the sites whose pages made
subresource requests (a site that only redirected elsewhere was not visited). *Reach* is
the share of those sites on which a tracker or company made at least one request. A
*tracker* is a third-party domain with a request blocked by the lists, or one that the
entity data lists in a tracking category.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trackguard.audit.entities import EntityMap
from trackguard.audit.tally import (
    BLOCKED,
    DNT,
    FIGURES,
    GPC,
    SUBRESOURCES,
    UNREADABLE_ROWS,
    DomainTally,
    Tally,
)

REPORT_VERSION = 1
TOP_RULES = 5  # rules listed per tracker
MATRIX_COMPANIES = 15
MATRIX_SITES = 40


@dataclass(frozen=True, slots=True)
class ReportContext:
    """What the report says about how it was made (lists, entity data, inputs)."""

    lists: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    inputs: int = 0
    learned: Mapping[str, Any] | None = None  # the learner's suggest-mode result, if any


def _figures(counts: Sequence[int]) -> dict[str, int]:
    return dict(zip(FIGURES, counts, strict=True))


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _top(counter: Counter[str]) -> str:
    """The most frequent key, ties broken by the key itself (deterministic)."""
    if not counter:
        return ""
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _is_tracker(domain: str, tally: DomainTally, entities: EntityMap) -> bool:
    return tally.blocked > 0 or bool(entities.category(domain))


def build_report(
    tally: Tally, entities: EntityMap | None = None, context: ReportContext | None = None
) -> dict[str, Any]:
    """The report as nested dicts and lists (see module docstring for the contract)."""
    entities = entities or EntityMap()
    context = context or ReportContext()
    # Sites whose pages made subresource requests: a host that only redirected elsewhere
    # was passed through, not visited (this is how the corpus summary counts its 625).
    sites_total = len([s for s, t in tally.sites.items() if s and t.counts[SUBRESOURCES]])
    totals = _figures(tally.totals)

    trackers: list[dict[str, Any]] = []
    companies: dict[str, dict[str, Any]] = {}
    for domain, d in tally.domains.items():
        company = entities.company(domain)
        name = company or domain
        group = companies.setdefault(
            name,
            {
                "company": name,
                "known": company is not None,
                "domains": [],
                "sites": set(),
                "requests": 0,
                "blocked": 0,
                "stopped_by_tunnels": 0,
                "categories": set(),
            },
        )
        group["domains"].append(domain)
        group["sites"] |= d.sites
        group["requests"] += d.requests
        group["blocked"] += d.blocked
        group["stopped_by_tunnels"] += d.tunnel
        group["categories"].update(entities.category(domain))
        if not _is_tracker(domain, d, entities):
            continue
        rules = sorted(d.rules.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_RULES]
        trackers.append(
            {
                "domain": domain,
                "company": company,
                "categories": list(entities.category(domain)),
                "sites": len(d.sites),
                "reach": _share(len(d.sites), sites_total),
                "pages": len(d.pages),
                "requests": d.requests,
                "third_party_requests": d.third_party,
                "blocked": d.blocked,
                "stopped_by_tunnels": d.tunnel,
                "bytes": d.bytes,
                "cookie_requests": d.cookies,
                "types": dict(sorted(d.types.items())),
                "rules": [
                    {"list": lst, "line": line, "rule": text, "requests": n}
                    for (lst, line, text), n in rules
                ],
            }
        )
    trackers.sort(key=lambda t: (-t["sites"], -t["requests"], t["domain"]))
    third_parties: list[dict[str, Any]] = [
        {
            "domain": domain,
            "company": entities.company(domain),
            "sites": len(d.sites),
            "third_party_requests": d.third_party,
            "blocked": d.blocked,
            "tracker": _is_tracker(domain, d, entities),
        }
        for domain, d in tally.domains.items()
        if d.third_party
    ]
    third_parties.sort(key=lambda t: (-t["third_party_requests"], t["domain"]))

    company_rows: list[dict[str, Any]] = []
    for group in companies.values():
        tracking = group["blocked"] > 0 or bool(group["categories"])
        company_rows.append(
            {
                "company": group["company"],
                "known": group["known"],
                "tracker": tracking,
                "categories": sorted(group["categories"]),
                "domains": sorted(group["domains"]),
                "sites": len(group["sites"]),
                "reach": _share(len(group["sites"]), sites_total),
                "requests": group["requests"],
                "blocked": group["blocked"],
                "stopped_by_tunnels": group["stopped_by_tunnels"],
            }
        )
    company_rows.sort(key=lambda c: (-c["sites"], -c["requests"], c["company"]))

    site_rows: list[dict[str, Any]] = []
    for site, s in tally.sites.items():
        figures = _figures(s.counts)
        site_rows.append(
            {
                "site": site,
                "pages": len(s.pages),
                **figures,
                "companies": dict(sorted(s.companies.items(), key=lambda kv: (-kv[1], kv[0]))),
                "trackers": dict(sorted(s.trackers.items(), key=lambda kv: (-kv[1], kv[0]))),
            }
        )
    site_rows.sort(key=lambda r: (-r["requests"], r["site"]))

    page_rows: list[dict[str, Any]] = []
    pages_dnt = pages_gpc = 0
    for key, p in tally.pages.items():
        pages_dnt += p.counts[DNT] > 0
        pages_gpc += p.counts[GPC] > 0
        page_rows.append(
            {
                "page": key,
                "url": _top(p.urls),
                "site": _top(p.sites),
                **_figures(p.counts),
                "dnt_sent": p.counts[DNT] > 0,
                "gpc_sent": p.counts[GPC] > 0,
            }
        )
    page_rows.sort(key=lambda r: (r["site"], r["page"]))

    tracker_companies = [c for c in company_rows if c["tracker"]][:MATRIX_COMPANIES]
    matrix_sites = [r["site"] for r in site_rows if r["site"]][:MATRIX_SITES]
    by_site = {r["site"]: r["companies"] for r in site_rows}
    matrix = {
        "companies": [c["company"] for c in tracker_companies],
        "sites": matrix_sites,
        "cells": [
            [by_site[site].get(c["company"], 0) for c in tracker_companies] for site in matrix_sites
        ],
    }

    rule_counts: Counter[tuple[str, int, str]] = Counter()
    for d in tally.domains.values():
        rule_counts.update(d.rules)
    rule_rows = [
        {"list": lst, "line": line, "rule": text, "requests": n}
        for (lst, line, text), n in sorted(rule_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]

    summary: dict[str, Any] = {
        "pages": len(tally.pages),
        "sites": sites_total,
        **totals,
        "third_party_share": _share(
            tally.totals[FIGURES.index("third_party_requests")],
            tally.totals[FIGURES.index("subresources")],
        ),
        "blocked_share": _share(tally.totals[BLOCKED], tally.totals[FIGURES.index("subresources")]),
        "pages_with_dnt": pages_dnt,
        "pages_with_gpc": pages_gpc,
        "trackers": len(trackers),
        "companies": len([c for c in company_rows if c["tracker"]]),
        "learned": None if context.learned is None else context.learned.get("domains"),
        # inputs read only up to a break, and rows that could not be read (readers.py)
        "skipped_inputs": len({file for file, _ in tally.broken}),
        "unreadable_rows": sum(n for r, n in tally.skipped.items() if r in UNREADABLE_ROWS),
    }
    return {
        "report": {
            "tool": "trackguard audit",
            "version": REPORT_VERSION,
            "lists": list(context.lists),
            "entities": list(context.entities),
            "inputs": context.inputs,
            "definitions": {
                "third_party": "request site differs from the page site"
                + (" and the two are not one company" if entities else ""),
                "blocked_by_lists": "subresource blocked by the lists on its full URL",
                "stopped_by_tunnels": "subresource blocked by host alone (https), "
                "as the proxy does without interception",
                "reach": "share of audited sites with at least one request",
            },
        },
        "summary": summary,
        "types": {
            t: {"requests": n, "blocked": tally.blocked_types.get(t, 0)}
            for t, n in sorted(tally.types.items(), key=lambda kv: (-kv[1], kv[0]))
        },
        "trackers": trackers,
        "third_parties": third_parties,
        "companies": company_rows,
        "sites": site_rows,
        "pages": page_rows,
        "matrix": matrix,
        "rules": rule_rows,
        "learned": dict(context.learned)
        if context.learned is not None
        else {"available": False, "note": "not asked for (--no-learn)"},
        "skipped": dict(sorted(tally.skipped.items())),
        "skipped_inputs": [
            {"file": file, "reason": reason} for file, reason in sorted(tally.broken)
        ],
    }


__all__ = ["REPORT_VERSION", "ReportContext", "build_report"]
