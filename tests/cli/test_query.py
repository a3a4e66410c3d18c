"""`trackguard query` (issue 11, point 6): every matching rule of every list, like
`pihole -q`, with list and line, block and allow, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import tg, widest

TPL = "msFilterList\n-d tracker.example\n+d ok.tracker.example\n"
ABP = "! Title: t\n||tracker.example^$script\n@@||ok.tracker.example^\n||other.example^\n"
HOSTS = "0.0.0.0 ok.tracker.example\n"


def _lists(tmp_path: Path) -> list[str]:
    out: list[str] = []
    for name, text in (("a.tpl", TPL), ("b.txt", ABP), ("c.hosts", HOSTS)):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        out += ["--list", str(path)]
    return out


def test_query_lists_every_matching_rule_of_every_list(tmp_path: Path) -> None:
    done = tg(tmp_path, "query", "ok.tracker.example", "--json", *_lists(tmp_path))
    assert done.returncode == 0
    data = json.loads(done.stdout)
    assert data["url"] == "https://ok.tracker.example/"
    assert data["matches"] == [
        {"rule": "-d tracker.example", "list": "a.tpl", "line": 2, "action": "block"},
        {"rule": "+d ok.tracker.example", "list": "a.tpl", "line": 3, "action": "allow"},
        # `$script` matches a script request: every type is tried for a bare domain
        {"rule": "||tracker.example^$script", "list": "b.txt", "line": 2, "action": "block"},
        {"rule": "@@||ok.tracker.example^", "list": "b.txt", "line": 3, "action": "allow"},
        {"rule": "0.0.0.0 ok.tracker.example", "list": "c.hosts", "line": 1, "action": "block"},
    ]
    table = tg(tmp_path, "query", "ok.tracker.example", *_lists(tmp_path))
    assert table.returncode == 0 and widest(table.stdout) <= 80
    assert "a.tpl:3" in table.stdout and "@@||ok.tracker.example^" in table.stdout
    only = json.loads(
        tg(
            tmp_path, "query", "ok.tracker.example", "--type", "image", "--json", *_lists(tmp_path)
        ).stdout
    )
    assert "||tracker.example^$script" not in [m["rule"] for m in only["matches"]]


def test_query_exit_status_is_grep_like(tmp_path: Path) -> None:
    none = tg(tmp_path, "query", "https://nothing.example/page", *_lists(tmp_path))
    assert none.returncode == 1 and "no rule of the enabled lists matches" in none.stderr
    bad = tg(tmp_path, "query", "not a domain")
    assert bad.returncode == 2 and "neither a URL nor a domain" in bad.stderr


def test_query_the_enabled_lists_and_your_overrides(tmp_path: Path) -> None:
    assert tg(tmp_path, "allow", "google-analytics.com").returncode == 0
    data = json.loads(tg(tmp_path, "query", "www.google-analytics.com", "--json").stdout)
    assert [(m["list"], m["rule"]) for m in data["matches"]] == [
        ("builtin", "-d google-analytics.com")
    ]
    assert data["overrides"] == [{"setting": "user_allow", "entry": "google-analytics.com"}]
