"""`trackguard audit` end to end: the real entry point as a subprocess, and the corpus.

The corpus test audits the 841 real HAR files (extracted to a temporary folder) and the
request log converted from them, and checks both reports against each other, against the
corpus's own summary (computed with adblock-rust) and against the engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from har_samples import ENTITIES, LIST_TEXT, har_entry, news_har, write_har
from real_hars import extract_real_hars


def audit(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACKGUARD_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "trackguard", "audit", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    hars = tmp_path / "hars"
    hars.mkdir()
    news_har(hars / "news.har")
    lists = tmp_path / "audit-test.txt"
    lists.write_text(LIST_TEXT)
    entities = tmp_path / "entities.json"
    entities.write_text(json.dumps(ENTITIES))
    return hars, lists, entities


def test_json_to_stdout(tmp_path: Path, inputs: tuple[Path, Path, Path]) -> None:
    hars, lists, entities = inputs
    done = audit(hars, "--list", lists, "--entities", entities, "--json", home=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["third_party_requests"] == 5
    assert report["summary"]["blocked_by_lists"] == 3
    assert report["report"]["lists"] == ["audit-test.txt"]
    assert report["report"]["entities"] == ["disconnect-entities"]


@pytest.mark.parametrize(("name", "marker"), [("r.html", "<!DOCTYPE html>"), ("r.csv", "section,")])
def test_format_from_out(
    tmp_path: Path, inputs: tuple[Path, Path, Path], name: str, marker: str
) -> None:
    hars, lists, _ = inputs
    out = tmp_path / name
    done = audit(hars, "--list", lists, "--out", out, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert out.read_text().startswith(marker)
    assert done.stdout == ""
    assert "blocked by lists 3" in done.stderr  # the short summary goes to stderr
    summary = [line for line in done.stderr.splitlines() if not line.startswith("report ")]
    assert summary and all(len(line) <= 80 for line in summary)


def test_broken_inputs_are_skipped_reported_and_exit_3(
    tmp_path: Path, inputs: tuple[Path, Path, Path]
) -> None:
    hars, lists, _ = inputs
    whole = (hars / "news.har").read_bytes()
    (hars / "broken.har").write_bytes(whole[: len(whole) // 2])  # truncated mid-entry
    log = tmp_path / "log.jsonl"
    log.write_text(
        '{"url": "https://t.test/a.js", "source_url": "https://a.example/", "type": "script"}\n'
        "{not json\n"
        '{"source_url": "https://a.example/"}\n'
    )
    clean = json.loads(audit(hars / "news.har", "--list", lists, "--json", home=tmp_path).stdout)
    done = audit(hars, log, "--list", lists, "--json", home=tmp_path)
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert [s["file"] for s in report["skipped_inputs"]] == [str(hars / "broken.har")]
    assert report["skipped_inputs"][0]["reason"].startswith("not valid JSON")
    assert report["summary"]["skipped_inputs"] == 1
    assert report["summary"]["unreadable_rows"] == 2
    assert report["skipped"] == {"bad-json": 1, "no-url": 1}
    # the entries before the break and the good row count; the clean file is intact
    kept = report["summary"]["requests"] - clean["summary"]["requests"] - 1
    assert 0 < kept < clean["summary"]["requests"]
    assert "warning: 1 file(s) read only up to a break, 2 unreadable row(s)" in done.stderr
    assert "broken.har: not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr
    for fmt, marker in (
        ("csv", f"skipped_input,{hars / 'broken.har'},reason,"),
        ("html", "Incomplete input"),
    ):
        done = audit(hars, "--list", lists, "--format", fmt, home=tmp_path)
        assert done.returncode == 3 and marker in done.stdout
    done = audit(hars / "news.har", "--list", lists, "--json", home=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["skipped_inputs"] == []


def test_errors_name_the_file_and_exit_non_zero(
    tmp_path: Path, inputs: tuple[Path, Path, Path]
) -> None:
    hars, _, _ = inputs
    bad_entities = tmp_path / "e.json"
    bad_entities.write_text("[]")
    done = audit(hars / "news.har", "--entities", bad_entities, home=tmp_path)
    assert done.returncode == 2
    assert "e.json: not an entity file" in done.stderr
    done = audit(tmp_path / "missing.har", home=tmp_path)
    assert done.returncode == 2  # click: the path does not exist
    done = audit(hars, "--workers", "2", "--dask", "tcp://127.0.0.1:1", home=tmp_path)
    assert done.returncode == 2


def test_default_engine_is_the_users_protection(
    tmp_path: Path, inputs: tuple[Path, Path, Path]
) -> None:
    hars, _, _ = inputs
    done = audit(hars, "--json", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["report"]["lists"] == ["enabled subscriptions"]


def _trackers(report: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    return {t["domain"]: (t["sites"], t["requests"], t["blocked"]) for t in report["trackers"]}


@pytest.mark.slow
def test_real_hars_agree_with_the_log_the_summary_and_the_engine(
    tmp_path: Path, corpus_dir: Path
) -> None:
    files = extract_real_hars(tmp_path / "hars")
    assert len(files) == 841
    lists = corpus_dir / "lists"
    common: list[str | Path] = [
        "--list", lists / "easylist.txt", "--list", lists / "easyprivacy.txt", "--json",
    ]  # fmt: skip
    common.append("--no-learn")  # the learner is tested on small HARs; this run is long
    from_hars = audit(tmp_path / "hars", *common, home=tmp_path)
    assert from_hars.returncode == 0, from_hars.stderr
    log = corpus_dir / "requests" / "real-requests.jsonl.gz"
    from_log = audit(log, *common, home=tmp_path)
    assert from_log.returncode == 0, from_log.stderr
    har_report, log_report = json.loads(from_hars.stdout), json.loads(from_log.stdout)
    expected = json.loads((corpus_dir / "requests" / "real-requests.summary.json").read_text())

    s = har_report["summary"]
    assert s["requests"] == expected["requests"] == 64_295
    assert s["sites"] == expected["first_party_sites_etld1"] == 625
    assert s["subresources"] == expected["requests"] - expected["types"]["document"]
    assert (
        round(s["third_party_requests"] / s["subresources"], 4)
        == (expected["third_party_share_of_subresources"])
    )
    # our engine blocks exactly what adblock-rust blocked, type by type
    assert s["blocked_by_lists"] == expected["blocked_by_easylist_easyprivacy_subresources"]
    blocked_by_type = {t: v["blocked"] for t, v in har_report["types"].items() if v["blocked"]}
    assert blocked_by_type == expected["blocked_by_type"]
    assert {t: v["requests"] for t, v in har_report["types"].items()} == expected["types"]
    # the HAR files and the log converted from them give the same figures; the log counts
    # page loads per file, the HARs count HAR pages (one file holds two pages)
    assert s["pages"] == expected["page_loads"] + 1
    assert log_report["summary"]["pages"] == expected["page_loads"]
    for key in ("requests", "third_party_requests", "blocked_by_lists", "stopped_by_tunnels"):
        assert s[key] == log_report["summary"][key], key
    assert _trackers(har_report) == _trackers(log_report)
    # the most frequent third-party domains, exactly as the summary lists them
    top = [(t["domain"], t["third_party_requests"]) for t in har_report["third_parties"]]
    expected_top = [tuple(pair) for pair in expected["top_third_party_domains"]]
    assert top[: len(expected_top)] == expected_top
    # HAR-only figures are present
    assert s["detailed_requests"] == s["requests"]
    assert s["third_party_cookies_set"] > 0 and s["bytes"] > 0


def _tracked_pages(folder: Path, sites: int) -> None:
    """`sites` pages that each load one pixel from trackerx.test with an ID cookie."""
    for i in range(sites):
        pixel = har_entry(f"https://px.trackerx.test/p.gif?uid=a81f3c9e2b7d4{i}0f61", "image")
        pixel["request"]["headers"].append({"name": "Cookie", "value": "tid=8f3a9c2e71b54d06a1f2"})
        pixel["response"]["headers"].append(
            {"name": "Set-Cookie", "value": "tid=8f3a9c2e71b54d06a1f2; Max-Age=31536000"}
        )
        page = f"https://site{i}.example/"
        write_har(folder / f"s{i}.har", page, [har_entry(page, "document"), pixel])


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def test_learner_suggestions_in_a_throwaway_state(tmp_path: Path) -> None:
    hars = tmp_path / "hars"
    hars.mkdir()
    lists = tmp_path / "l.txt"
    lists.write_text(LIST_TEXT)
    home = tmp_path / "home"
    _tracked_pages(hars, 2)
    done = audit(hars, "--list", lists, "--json", home=home)
    assert done.returncode == 0, done.stderr
    learned = json.loads(done.stdout)["learned"]
    assert (learned["available"], learned["domains"]) == (True, 0)  # 2 sites < threshold 3
    _tracked_pages(hars, 3)
    before = _files(home)
    done = audit(hars, "--list", lists, "--json", home=home)
    report = json.loads(done.stdout)
    assert report["summary"]["learned"] == 1
    (suggestion,) = report["learned"]["suggestions"]
    assert (suggestion["domain"], suggestion["sites"], suggestion["action"]) == (
        "trackerx.test",
        3,
        "block",
    )
    assert _files(home) == before  # the user's own learner learned nothing
    done = audit(hars, "--list", lists, "--json", "--no-learn", home=home)
    assert json.loads(done.stdout)["learned"]["available"] is False


def test_learner_suggestions_count_sites_exactly(tmp_path: Path) -> None:
    """A tracker on 1,500 sites: a kept learner's 16-bit tags would collide ~17 times (a
    different undercount on every run, each run drawing a fresh key); the audit's
    throwaway learner numbers sites exactly, so the figure is 1,500 and reproducible."""
    hars = tmp_path / "hars"
    hars.mkdir()
    _tracked_pages(hars, 1500)
    lists = tmp_path / "l.txt"
    lists.write_text(LIST_TEXT)
    done = audit(hars, "--list", lists, "--json", home=tmp_path / "h")
    assert done.returncode == 0, done.stderr
    (suggestion,) = json.loads(done.stdout)["learned"]["suggestions"]
    assert (suggestion["domain"], suggestion["sites"]) == ("trackerx.test", 1500)


def test_logs_have_nothing_to_learn_from(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"url": "https://ads.test/", "source_url": "https://a.example/"}))
    done = audit(log, "--json", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "HAR files" in json.loads(done.stdout)["learned"]["note"]
