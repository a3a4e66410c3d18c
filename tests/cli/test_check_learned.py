"""`trackguard check` consults the personalized list the way the proxy does (issue 13).

Real subprocesses with TRACKGUARD_HOME in tmp_path, seeded by `learn from-har` with a HAR
of 4 sites on 2 days (yesterday, today). The import itself runs the daily recompute of
yesterday's and today's events (§B9.4), so `learn mode auto` enforces without a clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trackguard.learn import store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "learn"))
from learn_hars import TRACKER, TRACKER_DOMAIN, write_visits

SITES = ["news.example", "shop.example", "blog.example", "maps.example"]
URL, PAGE = f"https://{TRACKER}/p.gif?x=1", "https://www.other.example/"


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(TRACKGUARD_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "trackguard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def check(home: Path, *args: str, code: int) -> subprocess.CompletedProcess[str]:
    done = run(home, "check", *args)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    har = write_visits(tmp_path / "visits.har", SITES, [1, 0])
    assert run(home, "learn", "from-har", str(har)).returncode == 0
    return home


def test_auto_block_is_explained_with_its_layer_and_evidence(home: Path) -> None:
    assert run(home, "learn", "mode", "auto").returncode == 0
    text = check(home, URL, "--source", PAGE, code=0).stdout
    assert text.startswith(f"BLOCKED by `-d {TRACKER_DOMAIN}` (personalized): ")
    assert "cookie+pixel evidence on 4 sites" in text
    data = json.loads(check(home, URL, "--source", PAGE, "--json", code=0).stdout)
    assert data["layer"] == "learned-block" and data["list"] == "personalized"
    assert data["rule"] == f"-d {TRACKER_DOMAIN}" and "evidence on 4 sites" in data["reason"]
    assert data["suggestion"] is None
    # third-party only (§B7 step 5): the tracker's own page is not blocked by it
    own = json.loads(check(home, URL, "--source", TRACKER, "--json", code=1).stdout)
    assert own["layer"] == "no-match" and own["suggestion"] is None


def test_dnt_exempt_host_says_so(home: Path) -> None:
    """A host that posts the EFF DNT policy (as the proxy's check recorded it) is exempt."""
    assert run(home, "learn", "mode", "auto").returncode == 0
    store.update_state(home, lambda s: s.record_dnt(TRACKER, True, 10**6))
    data = json.loads(check(home, URL, "--source", PAGE, "--json", code=1).stdout)
    assert data["layer"] == "learned-exempt" and data["blocked"] is False
    assert TRACKER in data["reason"] and "Do Not Track" in data["reason"]
    assert data["overridden"]["rule"] == f"-d {TRACKER_DOMAIN}"
    text = check(home, URL, "--source", PAGE, code=1).stdout
    assert text.startswith("allowed: learned rule not applied") and TRACKER in text


def test_suggest_names_the_pending_suggestion_until_answered(home: Path) -> None:
    done = check(home, URL, "--source", PAGE, code=1)
    lines = done.stdout.splitlines()
    assert lines[0] == "allowed: no rule matched"
    assert lines[1] == (
        "  personalized list suggests blocking this host; "
        f"`trackguard learn accept {TRACKER_DOMAIN}`"
    )
    data = json.loads(check(home, URL, "--json", code=1).stdout)
    assert data["layer"] == "no-match"
    assert data["suggestion"] == {"domain": TRACKER_DOMAIN, "action": "block"}
    # an unrelated host gets no suggestion line
    other = check(home, "https://cdn.unrelated.example/x.js", code=1).stdout
    assert "suggests" not in other
    # accepted: the user's block decides; nothing is pending any more
    assert run(home, "learn", "accept", TRACKER_DOMAIN).returncode == 0
    data = json.loads(check(home, URL, "--source", PAGE, "--json", code=0).stdout)
    assert data["layer"] == "user-block" and data["suggestion"] is None
    # rejected: allowed, and the answered suggestion is not named again
    assert run(home, "learn", "reject", TRACKER_DOMAIN).returncode == 0
    done = check(home, URL, "--source", PAGE, code=1)
    assert "suggests" not in done.stdout


def test_batch_uses_the_learned_layer_too(home: Path, tmp_path: Path) -> None:
    assert run(home, "learn", "mode", "auto").returncode == 0
    reqs = tmp_path / "reqs.jsonl"
    reqs.write_text(json.dumps({"url": URL, "source_url": PAGE}) + "\n", encoding="utf-8")
    out = check(home, "--requests", str(reqs), code=0).stdout
    assert json.loads(out)["layer"] == "learned-block"


def test_fresh_home_creates_no_learner_files(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    data = json.loads(check(home, URL, "--source", PAGE, "--json", code=1).stdout)
    assert data["layer"] == "no-match" and data["suggestion"] is None
    assert not list(home.glob("learning*")), sorted(p.name for p in home.iterdir())
