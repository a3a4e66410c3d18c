"""The report's JSON contract and its definitions (reach, trackers, companies, matrix)."""

from __future__ import annotations

import json
from pathlib import Path

from har_samples import ENTITIES, har_entry, news_har, write_har
from trackguard.audit.entities import parse_entities
from trackguard.audit.readers import read_rows
from trackguard.audit.report import ReportContext, build_report
from trackguard.audit.run import audit_rows
from trackguard.engine import Engine

SUMMARY_KEYS = {
    "pages",
    "sites",
    "requests",
    "third_party_requests",
    "blocked_by_lists",
    "stopped_by_tunnels",
}
TRACKER_KEYS = {"domain", "company", "sites", "requests", "blocked"}


def _two_sites(tmp_path: Path) -> list[Path]:
    shop = write_har(
        tmp_path / "shop.har",
        "https://shop.example/",
        [
            har_entry("https://shop.example/", "document"),
            har_entry("https://ads.test/a.js", "script"),
            har_entry("https://cdn.adsinc-cdn.test/b.js", "script"),
        ],
    )
    return [news_har(tmp_path / "news.har"), shop]


def test_json_contract(tmp_path: Path, small_engine: Engine) -> None:
    entities = parse_entities([ENTITIES])
    tally = audit_rows(read_rows(_two_sites(tmp_path)), small_engine, entities)
    report = build_report(tally, entities, ReportContext(lists=("audit-test.txt",), inputs=2))
    json.dumps(report)  # serialisable as is
    assert report["summary"].keys() >= SUMMARY_KEYS
    assert report["summary"]["pages"] == 2
    assert report["summary"]["sites"] == 2
    for tracker in report["trackers"]:
        assert tracker.keys() >= TRACKER_KEYS
    ads = next(t for t in report["trackers"] if t["domain"] == "ads.test")
    assert (ads["company"], ads["sites"], ads["reach"]) == ("Ads Inc", 2, 1.0)
    assert ads["rules"] == [
        {"list": "audit-test.txt", "line": 4, "rule": "||ads.test^", "requests": 2}
    ]
    # adsinc-cdn.test is not blocked and has no category: a third party, not a tracker
    assert "adsinc-cdn.test" not in {t["domain"] for t in report["trackers"]}
    company = next(c for c in report["companies"] if c["company"] == "Ads Inc")
    assert company["domains"] == ["ads.test", "adsinc-cdn.test"]
    assert (company["sites"], company["requests"], company["blocked"]) == (2, 4, 2)
    matrix = report["matrix"]
    assert matrix["companies"][0] == "Ads Inc"
    assert matrix["cells"][matrix["sites"].index("shop.example")][0] == 2
    assert report["summary"]["pages_with_dnt"] == 1
    assert report["learned"]["available"] is False


def test_reports_are_deterministic(tmp_path: Path, small_engine: Engine) -> None:
    files = _two_sites(tmp_path)
    one = build_report(audit_rows(read_rows(files), small_engine, partition_rows=3))
    two = build_report(audit_rows(read_rows(files[::-1]), small_engine, partition_rows=3))
    assert json.dumps(one) == json.dumps(two)
