"""Report formats: escaping, same figures in JSON and CSV, and the HTML in real Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from chromium import CHROMIUM, QUIET
from har_samples import har_entry, news_har, write_har
from trackguard.audit.readers import read_rows
from trackguard.audit.render import render_csv, render_html, render_json
from trackguard.audit.report import ReportContext, build_report
from trackguard.audit.run import audit_rows
from trackguard.engine import Engine

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "build" / "audit-screenshots"
EVIL = '"><script>fetch("https://evil.test/x")</script><img src=https://evil.test/i.png>'


def _report(tmp_path: Path, engine: Engine) -> dict[str, Any]:
    hostile = write_har(
        tmp_path / "evil.har",
        "https://evil.test/" + EVIL,
        [
            har_entry("https://evil.test/" + EVIL, "document"),
            har_entry("https://ads.test/" + EVIL, "script"),
        ],
    )
    files = [news_har(tmp_path / "news.har"), hostile]
    tally = audit_rows(read_rows(files), engine)
    return build_report(tally, None, ReportContext(lists=("audit-test.txt" + EVIL,), inputs=2))


def test_html_escapes_everything_and_loads_nothing(tmp_path: Path, small_engine: Engine) -> None:
    html = render_html(_report(tmp_path, small_engine), title="audit " + EVIL)
    assert "<script" not in html
    assert "<img" not in html
    assert "default-src 'none'" in html
    # no attribute may point anywhere: the only URLs are escaped text and the SVG namespace
    assert re.findall(r'(?:src|href|action)\s*=\s*"', html) == []
    assert "&lt;script&gt;" in html


def test_json_and_csv_carry_the_same_figures(tmp_path: Path, small_engine: Engine) -> None:
    report = _report(tmp_path, small_engine)
    assert json.loads(render_json(report)) == report
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    summary = {r["metric"]: r["value"] for r in rows if r["section"] == "summary"}
    for key in ("pages", "requests", "third_party_requests", "blocked_by_lists"):
        assert summary[key] == str(report["summary"][key])
    tracker_rows = [r for r in rows if r["section"] == "tracker" and r["metric"] == "blocked"]
    assert {r["key"]: int(r["value"]) for r in tracker_rows} == {
        t["domain"]: t["blocked"] for t in report["trackers"]
    }
    assert any(r["section"] == "rule" and r["metric"] == "||ads.test^" for r in rows)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")
def test_html_renders_offline_in_chromium(tmp_path: Path, corpus_dir: Path) -> None:
    """The real request log's report in headless Chromium: screenshots, zero requests."""
    playwright_sync = pytest.importorskip("playwright.sync_api")
    lists = corpus_dir / "lists"
    engine = Engine.from_files([lists / "easylist.txt", lists / "easyprivacy.txt"])
    from trackguard.audit.entities import load_entities

    entities = load_entities([corpus_dir / "other" / "duckduckgo-tds-extension-v6.json"])
    log = corpus_dir / "requests" / "real-requests.jsonl.gz"
    report = build_report(
        audit_rows(read_rows([log]), engine, entities),
        entities,
        ReportContext(
            lists=("easylist.txt", "easyprivacy.txt"), entities=entities.sources, inputs=1
        ),
    )
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(report, "Argentina top sites, 25 Aug 2025"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(QUIET),
            env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")},
        )
        try:
            for name, width in (("desktop", 1366), ("narrow", 390)):
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                page.on("request", lambda r: requests.append(r.url))
                page.goto(page_file.as_uri())
                page.wait_for_load_state("load")
                assert page.locator("#summary .card").count() >= 8
                assert page.locator("#trackers svg rect").count() > 5
                # the page itself never scrolls sideways: wide tables scroll in their box
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, f"{name}: {overflow}px horizontal overflow"
                shot = SCREENSHOTS / f"audit-{name}.png"
                page.screenshot(path=str(shot), full_page=False)
                assert shot.stat().st_size > 10_000
                context.close()
        finally:
            browser.close()
    assert requests == [page_file.as_uri()] * 2  # the page itself, nothing else


def test_learned_suggestions_are_rendered_escaped(tmp_path: Path, small_engine: Engine) -> None:
    tally = audit_rows(read_rows([news_har(tmp_path / "n.har")]), small_engine)
    learned = {
        "available": True,
        "domains": 1,
        "not_blocked_by_host": 1,
        "files": 1,
        "threshold": 3,
        "suggestions": [
            {
                "domain": "x.test" + EVIL,
                "sites": 4,
                "kinds": ["cookie"],
                "action": "block",
                "layer": "default-allow",
                "reason": "cookie evidence on 4 sites: block",
            }
        ],
    }
    report = build_report(tally, None, ReportContext(learned=learned))
    assert report["summary"]["learned"] == 1
    html = render_html(report)
    assert "x.test&quot;&gt;&lt;script&gt;" in html
    assert "cookie evidence on 4 sites" in html
    assert "<script" not in html


def test_csv_cells_never_start_like_a_formula(small_engine: Engine, tmp_path: Path) -> None:
    page = "https://a.example/"
    hostile = write_har(
        tmp_path / "f.har",
        page,
        [har_entry(page, "document"), har_entry("https://ads.test/=HYPERLINK(1)", "script")],
    )
    engine = Engine.from_text("msFilterList\n-d ads.test\n", "tpl", list_id="=cmd|' /C calc'!A0")
    report = build_report(audit_rows(read_rows([hostile]), engine))
    cells = [c for row in csv.reader(io.StringIO(render_csv(report))) for c in row]
    assert "'=cmd|' /C calc'!A0:2" in cells  # the rule key (list:line), neutralised
    assert "'-d ads.test" in cells  # the TPL rule text itself starts with a minus
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
