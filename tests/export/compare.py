"""Which requests an export must decide exactly like the engine (tests only).

A request is comparable when every rule the engine finds for it (blocks, exceptions,
removeparam rules, and `$document` exceptions of its page) was exported exactly.
"""

from __future__ import annotations

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
