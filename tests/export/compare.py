"""Which requests an export must decide exactly like the engine (tests only).

A request is comparable when every rule the engine finds for it (blocks, exceptions,
removeparam rules, and `$document` exceptions of its page) was exported exactly.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from trackguard.export.report import ExportReport, Fate
from trackguard.model import Action, RequestType, Rule


def exact_rules(report: ExportReport) -> set[Rule]:
    return {o.rule for o in report.output.outcomes if o.fate is Fate.EXACT}


def rules_for(engine: Any, url: str, source: str | None, rtype: str) -> list[Rule]:
    rules = list(engine.matching_rules(url, source, rtype))
    if source:
        rules += [
            r
            for r in engine.matching_rules(source, source, "document")
            if r.action is Action.ALLOW and r.types & RequestType.DOCUMENT
        ]
    return rules


def comparable(engine: Any, exact: set[Rule], url: str, source: str | None, rtype: str) -> bool:
    return all(r in exact for r in rules_for(engine, url, source, rtype))


def load_real_requests(corpus_dir: Path, limit: int) -> list[dict[str, Any]]:
    """Distinct subresource requests with a page, spread evenly over the whole log."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    with gzip.open(corpus_dir / "requests" / "real-requests.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") == "document" or not r.get("source_url"):
                continue
            if not r["url"].startswith(("http://", "https://")):
                continue
            key = (r["url"], r["source_url"], r["type"])
            if key in seen:
                continue
            seen.add(key)
            rows.append(r)
    step = max(1, len(rows) // limit)
    return rows[::step][:limit]
