"""The export report: one outcome per rule, reasons grouped with examples, JSON and text."""

from __future__ import annotations

import json

import pytest

from trackguard.export import export_lists
from trackguard.export.report import (
    REASONS,
    ExportReport,
    Fate,
    FormatOutput,
    dropped,
    exact,
    narrowed,
    worst,
)
from trackguard.lists import parse_list

LIST = """[Adblock Plus 2.0]
||a.example^
||b.example^$popup
||c.example^$popup,script
||d.example^$badfilter
||d.example^
"""


def test_every_rule_is_accounted_for() -> None:
    report = export_lists("dnr", [parse_list(LIST, "l.txt")])
    assert report.rules_in == 5
    data = report.to_json()
    assert (data["exact"], data["narrowed"], data["dropped"]) == (1, 1, 3)
    reasons = {(r["fate"], r["reason"]): r["count"] for r in data["reasons"]}
    assert reasons == {
        ("dropped", "popup"): 1,
        ("dropped", "badfilter"): 1,
        ("dropped", "disabled-by-badfilter"): 1,
        ("narrowed", "popup-partly"): 1,
    }
    example = next(r for r in data["reasons"] if r["reason"] == "popup")["examples"][0]
    assert example == {
        "list": "l.txt",
        "line": 3,
        "rule": "||b.example^$popup",
        "fate": "dropped",
        "reason": "popup",
    }
    assert len(data["not_exact"]) == 4
    json.dumps(data)
    text = report.to_text()
    assert "exact 1   narrowed 1   dropped 3" in text
    assert "l.txt:3 ||b.example^$popup" in text


def test_a_lost_rule_is_an_error() -> None:
    rule = parse_list("||a.example^\n", "l.txt").rules[0]
    with pytest.raises(AssertionError, match="lost track"):
        ExportReport("dnr", ["l.txt"], 2, FormatOutput({}, [exact(rule)]))


def test_worst_keeps_dropped_only_when_everything_was() -> None:
    rule = parse_list("||a.example^\n", "l.txt").rules[0]
    assert worst([exact(rule)], rule).fate is Fate.EXACT
    assert worst([exact(rule), dropped(rule, "popup")], rule) == narrowed(rule, "popup")
    assert worst([dropped(rule, "x"), dropped(rule, "y")], rule).reason == "x"
    assert worst([narrowed(rule, "n"), exact(rule)], rule).reason == "n"


def test_every_reason_used_by_exporters_has_a_text() -> None:
    import pathlib
    import re

    source = pathlib.Path(__file__).resolve().parents[2] / "src" / "trackguard" / "export"
    used = set()
    for path in source.glob("*.py"):
        used |= set(re.findall(r'(?:dropped|narrowed)\(\s*\w+,\s*"([a-z0-9-]+)"', path.read_text()))
    assert used and used <= set(REASONS), used - set(REASONS)
