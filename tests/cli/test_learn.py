"""`trackguard learn ...` as real subprocesses with TRACKGUARD_HOME in a tmp folder.

Covers the `learn list --json` shape of issue 13, explanations (L-10), accept/reject
(overrides apply to the next check), export to a TPL that `lists add` accepts, import,
and wipe on raw bytes (L-9).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import tg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "learn"))
from learn_hars import TRACKER, TRACKER_DOMAIN, write_visits

SITES = ["news.example", "shop.example", "blog.example", "maps.example"]


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return tg(home, *args, columns=200)


def ok(home: Path, *args: str) -> str:
    done = run(home, *args)
    # `check` answers like grep (docs/cli.md): 0 blocked, 1 allowed; both are answers
    allowed = (0, 1) if args[0] == "check" else (0,)
    assert done.returncode in allowed, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    har = write_visits(tmp_path / "visits.har", SITES, [1, 0])
    report = json.loads(ok(home, "learn", "from-har", str(har), "--json"))
    assert report["files"] == 1 and report["evidence"] > 0
    return home


def raw(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.glob("learning.sqlite3*"))


def test_list_json_shape_and_explanation(home: Path) -> None:
    items = json.loads(ok(home, "learn", "list", "--json"))
    assert isinstance(items, list)
    tracker = next(i for i in items if i["domain"] == TRACKER_DOMAIN)
    assert tracker["sites"] == 4 and tracker["days"] == 2
    assert set(tracker["kinds"]) >= {"cookie", "pixel"}
    assert tracker["action"] == "block" and tracker["enforced"] is False
    assert all(i["domain"] != "libcdn.example" or i["action"] is None for i in items)
    shown = ok(home, "learn", "show", TRACKER_DOMAIN)
    for words in ("cookie", "4 (threshold 3)", "block", "default-allow", "suggest"):
        assert words in shown, words
    assert run(home, "learn", "show", "never-seen.example").returncode == 1
    status = json.loads(ok(home, "learn", "status", "--json"))
    assert status["mode"] == "suggest" and status["suggestions"] >= 1
    lists = json.loads(ok(home, "lists", "--json"))
    personal = next(v for v in lists if v["name"] == "Personalized list")
    assert personal["enabled"] is False and personal["rules"] >= 1


def test_accept_blocks_the_next_request_and_reject_undoes_it(home: Path) -> None:
    url, page = f"https://{TRACKER}/p.gif?x=1", "https://www.other.example/"
    before = json.loads(ok(home, "check", url, "--source", page, "--json"))
    assert before["blocked"] is False
    ok(home, "learn", "accept", TRACKER_DOMAIN)
    after = json.loads(ok(home, "check", url, "--source", page, "--json"))
    assert after["blocked"] is True
    item = next(
        i for i in json.loads(ok(home, "learn", "list", "--json")) if i["domain"] == TRACKER_DOMAIN
    )
    assert item["verdict"] == "accepted" and item["layer"] == "user-block"
    ok(home, "learn", "reject", TRACKER_DOMAIN)
    again = json.loads(ok(home, "check", url, "--source", page, "--json"))
    assert again["blocked"] is False
    assert run(home, "learn", "accept", "unknown.example").returncode == 1


def test_export_tpl_is_a_list_lists_add_accepts(home: Path, tmp_path: Path) -> None:
    tpl = tmp_path / "personalized.tpl"
    ok(home, "learn", "export", "--format", "tpl", "-o", str(tpl))
    text = tpl.read_text()
    assert text.startswith("msFilterList\n") and f"-d {TRACKER_DOMAIN}\n" in text
    assert "news.example" not in text
    ok(home, "lists", "add", str(tpl), "--name", "Mine")
    check = json.loads(
        ok(home, "check", f"https://{TRACKER}/x", "--source", "https://a.example/", "--json")
    )
    assert check["blocked"] is True and check["rule"] == f"-d {TRACKER_DOMAIN}"


def test_export_json_and_import_elsewhere(home: Path, tmp_path: Path) -> None:
    exported = tmp_path / "learned.json"
    ok(home, "learn", "export", "-o", str(exported))
    data = json.loads(exported.read_text())
    assert "site_tag" not in exported.read_text() and data["trackers"]
    other = tmp_path / "other"
    assert json.loads(ok(other, "learn", "import", str(exported), "--json"))["imported"] >= 1
    item = next(
        i for i in json.loads(ok(other, "learn", "list", "--json")) if i["domain"] == TRACKER_DOMAIN
    )
    assert item["source"] == "imported" and item["action"] == "block"
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    done = run(other, "learn", "import", str(bad))
    assert done.returncode == 1 and "not a trackguard" in done.stderr


def test_l9_wipe_via_cli(home: Path) -> None:
    ok(home, "learn", "accept", TRACKER_DOMAIN)
    key = (home / "learning.key").read_bytes()
    assert TRACKER_DOMAIN.encode() in raw(home)  # the control: the name is there to find
    ok(home, "learn", "wipe", "--yes")
    assert TRACKER_DOMAIN.encode() not in raw(home)
    assert (home / "learning.key").read_bytes() != key
    assert json.loads(ok(home, "learn", "list", "--json")) == []
    # the user's override still works
    check = json.loads(
        ok(home, "check", f"https://{TRACKER}/x", "--source", "https://a.example/", "--json")
    )
    assert check["blocked"] is True


def test_mode_pause_and_warning(tmp_path: Path) -> None:
    home = tmp_path / "h"
    done = run(home, "learn", "mode", "auto", "--threshold", "5")
    assert done.returncode == 0 and "more identifiable" in done.stderr
    status = json.loads(ok(home, "learn", "status", "--json"))
    assert status["mode"] == "auto" and status["threshold"] == 5
    assert run(home, "learn", "mode", "auto", "--threshold", "2").returncode == 2
    assert json.loads(ok(home, "learn", "pause", "--for", "2h", "--json"))["paused_until"] > 0
    assert json.loads(ok(home, "learn", "status", "--json"))["paused_until"] is not None
    lists = json.loads(ok(home, "lists", "--json"))
    assert next(v for v in lists if v["id"] == "personalized")["enabled"] is True
