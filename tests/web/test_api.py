"""The dashboard's reads and actions on a real state folder and decision log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from trackguard.proxy.log import DecisionLog, LogEntry, log_path
from trackguard.settings import load_settings
from trackguard.web import api


@pytest.fixture
def home(tmp_path: Path) -> Path:
    log = DecisionLog(log_path(tmp_path))
    now = time.time()
    for host, action, site in [
        ("tracker.test", "block", "news.test"),
        ("tracker.test", "block", "shop.test"),
        ("cdn.test", "allow", "news.test"),
        ("ads.test", "block", "news.test"),
    ]:
        log.add(
            LogEntry(now, "http", action, "list-block" if action == "block" else "no-match",
                     "script", site, host, "-d tracker.test" if action == "block" else None,
                     "t.tpl" if action == "block" else None, 2 if action == "block" else None)
        )  # fmt: skip
    log.flush_now()
    return tmp_path


def test_overview_figures(home: Path) -> None:
    data = api.overview(home)
    assert data["today"]["requests"] == 4 and data["today"]["blocked"] == 3
    assert list(data["top_trackers"][0]) == ["tracker.test", 2]
    assert sum(n for _, n in data["series"]) == 3
    assert data["protection"] is True and data["dnt"] is False


def test_log_rows_and_live_step(home: Path) -> None:
    first = api.log_rows(home, None)
    assert len(first["rows"]) == 4 and first["rows"][-1]["where"] in ("t.tpl:2", None)
    assert api.log_rows(home, first["last"])["rows"] == []
    log = DecisionLog(log_path(home))
    log.add(LogEntry(time.time(), "http", "block", "list-block", "image", "a.test", "px.test"))
    log.flush_now()
    step = api.log_rows(home, first["last"])
    assert [r["host"] for r in step["rows"]] == ["px.test"] and step["last"] > first["last"]


def test_sites_with_switch_state(home: Path) -> None:
    api.act(home, "site", {"site": "www.news.test", "protection": False})
    rows = {r["site"]: r for r in api.sites(home)["sites"]}
    assert rows["news.test"]["blocked"] == 2 and rows["news.test"]["trackers"] == 2
    assert rows["news.test"]["protection"] is False and rows["shop.test"]["protection"] is True


def test_actions_change_settings_like_the_cli(home: Path) -> None:
    api.act(home, "allow", {"domain": "CDN.Example"})
    api.act(home, "block", {"domain": "ads.example"})
    api.act(home, "settings", {"dnt": True, "gpc": True, "log_retention_days": 3})
    api.act(home, "protection", {"on": False})
    s = load_settings(home)
    assert s.user_allow == ("cdn.example",) and s.user_block == ("ads.example",)
    assert s.dnt and s.gpc and s.log_retention_days == 3 and not s.protection
    api.act(home, "block", {"domain": "cdn.example"})  # the opposite override goes
    s = load_settings(home)
    assert s.user_allow == () and set(s.user_block) == {"ads.example", "cdn.example"}


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("allow", {"domain": "co.uk"}, "public suffix"),
        ("allow", {"domain": "a b"}, "not a domain"),
        ("allow", {}, "non-empty text"),
        ("settings", {"log_retention_days": -1}, "whole number"),
        ("settings", {"dnt": "yes"}, "true or false"),
        ("settings", {}, "nothing to change"),
        ("protection", {"on": 1}, "true or false"),
        ("learn-mode", {"mode": "always"}, "mode must be one of"),
        ("learn-accept", {"domain": "never-seen.example"}, "nothing learned"),
        ("learn-ignore", {"site": "127.0.0.1", "ignored": True}, "give a site name"),
        ("learn-ignore", {"site": "news.example"}, "true or false"),
        ("learn-ignore", {"ignored": True}, "non-empty text"),
        ("nope", {}, "unknown action"),
    ],
)
def test_bad_actions_refused_with_a_reason(
    home: Path, name: str, payload: dict[str, object], reason: str
) -> None:
    before = (home / "settings.json").read_bytes() if (home / "settings.json").exists() else None
    with pytest.raises(api.ActionError, match=reason):
        api.act(home, name, payload)
    after = (home / "settings.json").read_bytes() if (home / "settings.json").exists() else None
    assert after == before


def test_list_add_enable_and_wipe(home: Path, tmp_path: Path) -> None:
    lst = tmp_path / "mine.tpl"
    lst.write_text("msFilterList\n-d tracker.test\n")
    added = api.act(home, "list-add", {"source": str(lst)})
    names = {entry["id"]: entry for entry in api.lists(home)["lists"]}
    assert added["id"] in names and names[added["id"]]["enabled"]
    api.act(home, "list-enable", {"name": added["id"], "enabled": False})
    assert not {e["id"]: e for e in api.lists(home)["lists"]}[added["id"]]["enabled"]
    with pytest.raises(api.ActionError):
        api.act(home, "list-add", {"source": str(tmp_path / "missing.tpl")})
    assert "wiped" in api.act(home, "wipe-log", {})["message"]
    assert api.log_rows(home, None)["rows"] == []


def test_allow_on_one_site_only(home: Path) -> None:
    api.act(home, "allow", {"domain": "tracker.test", "site": "www.news.test"})
    s = load_settings(home)
    assert s.site_allow == ("news.test tracker.test",) and s.user_allow == ()
    api.act(home, "allow", {"domain": "tracker.test", "site": "news.test", "on": False})
    assert load_settings(home).site_allow == ()


def test_signals_asked_once(home: Path) -> None:
    assert api.overview(home)["signals_asked"] is False
    api.act(home, "signals", {"gpc": True})
    s = load_settings(home)
    assert s.gpc and s.dnt and api.overview(home)["signals_asked"] is True


def test_learn_settings_validated(home: Path) -> None:
    api.act(home, "learn-settings", {"threshold": 5, "pause_hours": 2})
    data = api.learn(home)
    assert data["threshold"] == 5 and data["paused_until"] > time.time() + 3600
    api.act(home, "learn-settings", {"pause_hours": 0})
    assert api.learn(home)["paused_until"] == 0.0
    for bad in ({"threshold": 2}, {"threshold": 31}, {"pause_hours": -1}, {"threshold": True}):
        with pytest.raises(api.ActionError):
            api.act(home, "learn-settings", bad)
    assert api.learn_export(home).startswith("msFilterList")


def test_never_learn_here_from_the_dashboard_is_the_cli_list(home: Path, tmp_path: Path) -> None:
    """The dashboard's "never learn here" and `learn ignore|unignore` share one list and one
    implementation: what one adds, the other shows and can remove; evidence is forgotten."""
    import json
    import os
    import subprocess
    import sys

    from learn_hars import TRACKER_DOMAIN, write_visits

    har = write_visits(tmp_path / "v.har", ["news.example", "shop.example", "blog.example"], [0])
    env = {**os.environ, "TRACKGUARD_HOME": str(home)}

    def cli(*args: str) -> object:
        done = subprocess.run(
            [sys.executable, "-m", "trackguard", "learn", *args, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    cli("from-har", str(har))

    def sites() -> int:
        items = {i["domain"]: i for i in api.learn(home)["items"]}
        return int(items[TRACKER_DOMAIN]["sites"]) if TRACKER_DOMAIN in items else 0

    assert sites() == 3 and api.learn(home)["never_learn"] == []
    done = api.act(home, "learn-ignore", {"site": "https://www.news.example/a?b", "ignored": True})
    assert done["site"] == "news.example" and done["forgotten"] >= 1
    assert "never learned from" in done["message"]
    assert api.learn(home)["never_learn"] == ["news.example"] and sites() == 2
    status = cli("status")
    assert isinstance(status, dict) and status["never_learn"] == ["news.example"]
    again = api.act(home, "learn-ignore", {"site": "news.example", "ignored": True})
    assert "already listed" in again["message"]
    cli("ignore", "shop.example")
    assert api.learn(home)["never_learn"] == ["news.example", "shop.example"]
    api.act(home, "learn-ignore", {"site": "shop.example", "ignored": False})
    api.act(home, "learn-ignore", {"site": "news.example", "ignored": False})
    assert api.learn(home)["never_learn"] == []
    assert cli("status")["never_learn"] == []  # type: ignore[index]
