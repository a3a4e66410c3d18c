"""TPL export: TPL -> engine rules -> TPL keeps the rule set; ABP rules only exactly or
narrowed (third-party), never widened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from compare import comparable, exact_rules

from corpus_paths import corpus_path
from trackguard.engine import Engine
from trackguard.export import export_lists
from trackguard.export.report import Fate
from trackguard.lists import parse_list
from trackguard.model import ListRejected

TPLS = sorted((corpus_path() / "tpl").glob("*.tpl"))
#: Lists over 1 MB take seconds each; they run under the `slow` mark.
CASES = [
    pytest.param(p, marks=[pytest.mark.slow] if p.stat().st_size > 1_000_000 else [], id=p.name)
    for p in TPLS
]


def rule_set(text: str, list_id: str) -> set[tuple[Any, ...]]:
    return {
        (r.action, r.host, r.host_mode, r.pattern, r.scheme_equivalence, r.party, r.types)
        for r in parse_list(text, list_id).rules
    }


@pytest.mark.parametrize("path", CASES)
def test_corpus_tpl_round_trip(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    try:
        parsed = parse_list(text, path.name)
    except ListRejected:
        pytest.skip("the parser rejects this list as a whole: nothing to export")
    report = export_lists("tpl", [parsed])
    assert report.counts() == {"exact": len(parsed.rules)}
    (out,) = report.output.files.values()
    assert out.startswith("msFilterList\n") and "\r" not in out
    assert rule_set(out, "out.tpl") == rule_set(text, path.name)


def test_tpl_round_trip_over_the_whole_corpus_is_covered() -> None:
    assert len(TPLS) >= 30


ABP_CASES = {
    "/ads/banner$third-party": (Fate.EXACT, ""),
    "/ads/banner": (Fate.NARROWED, "tpl-third-party-only"),
    "/ads/first$~third-party": (Fate.DROPPED, "tpl-options"),
    "||tracker.example^": (Fate.DROPPED, "tpl-no-host-anchor"),
    "@@||partner.example^$third-party": (Fate.EXACT, ""),
    "@@||partner2.example^": (Fate.NARROWED, "tpl-third-party-only"),
    "@@/widget/*$third-party": (Fate.DROPPED, "tpl-no-host-anchor"),
    "http://plain.example/ad$third-party": (Fate.DROPPED, "tpl-options"),
    "/script.js$script,third-party": (Fate.DROPPED, "tpl-options"),
    "|https://x.example/$third-party": (Fate.DROPPED, "tpl-options"),
    "/sep^x$third-party": (Fate.DROPPED, "tpl-options"),
    "/imp$third-party,important": (Fate.NARROWED, "tpl-options"),
}


def test_abp_rules_exact_narrowed_or_dropped() -> None:
    parsed = parse_list("\n".join(ABP_CASES) + "\n", "a.txt")
    report = export_lists("tpl", [parsed])
    got = {o.rule.source.text: (o.fate, o.reason) for o in report.output.outcomes}
    assert got == ABP_CASES
    (out,) = report.output.files.values()
    lines = out.splitlines()
    assert "- /ads/banner" in lines and "+d partner.example" in lines
    assert not any("tracker.example" in line for line in lines)


@pytest.mark.slow
def test_easyprivacy_to_tpl_decides_like_the_engine(
    el_ep_lists: list[Any], real_requests: list[dict[str, Any]]
) -> None:
    source = [p for p in el_ep_lists if p.list_id == "easyprivacy.txt"]
    report = export_lists("tpl", source)
    (out,) = report.output.files.values()
    original = Engine.from_parsed(source)
    exported = Engine.from_text(out, "tpl", list_id="exported.tpl")
    exact = exact_rules(report)
    compared = blocked = 0
    for r in real_requests[::2]:
        url, page, rtype = r["url"], r["source_url"], r["type"]
        if not comparable(original, exact, url, page, rtype):
            continue
        compared += 1
        want = original.check(url, page, rtype).blocked
        blocked += want
        assert exported.check(url, page, rtype).blocked == want, (url, page, rtype)
    assert compared > 1000
