"""`trackguard site`, `rule`, `allow`, `block` (issue 11, point 7: validate, warn,
confirm, explain), run as real subprocesses with their own state folder."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import tg

from trackguard.settings import load_settings

GA = "https://www.google-analytics.com/collect"
PAGE = "https://news.example/"


def test_site_switch(tmp_path: Path) -> None:
    assert (
        "protection off on example.com"
        in tg(tmp_path, "site", "off", "https://www.Example.com/x").stdout
    )
    assert tg(tmp_path, "site", "off", "news.example.co.uk").returncode == 0
    assert load_settings(tmp_path).exempt_sites == ("example.com", "example.co.uk")
    assert tg(tmp_path, "site", "list").stdout.split() == ["example.com", "example.co.uk"]
    assert json.loads(tg(tmp_path, "site", "list", "--json").stdout) == [
        "example.com",
        "example.co.uk",
    ]
    assert tg(tmp_path, "site", "on", "example.com").returncode == 0
    assert load_settings(tmp_path).exempt_sites == ("example.co.uk",)


def test_allow_and_block_overrides(tmp_path: Path) -> None:
    assert tg(tmp_path, "block", "tracker.example").returncode == 0
    switched = tg(tmp_path, "allow", "cdn.example", "Tracker.Example")
    assert "tracker.example: no longer always blocked" in switched.stderr
    settings = load_settings(tmp_path)
    assert settings.user_allow == ("cdn.example", "tracker.example")
    assert settings.user_block == ()  # allowing removed the opposite override
    assert tg(tmp_path, "allow").stdout.split() == ["cdn.example", "tracker.example"]
    assert json.loads(tg(tmp_path, "allow", "--json").stdout) == ["cdn.example", "tracker.example"]
    assert json.loads(tg(tmp_path, "block", "--json").stdout) == []
    removed = json.loads(tg(tmp_path, "allow", "--remove", "cdn.example", "--json").stdout)
    assert removed == {
        "setting": "user_allow",
        "changed": ["cdn.example"],
        "unchanged": [],
        "entries": ["tracker.example"],
    }
    assert load_settings(tmp_path).user_allow == ("tracker.example",)


def test_bad_entries_are_refused_and_nothing_is_saved(tmp_path: Path) -> None:
    assert tg(tmp_path, "allow", "keep.example").returncode == 0
    before = (tmp_path / "settings.json").read_bytes()
    for args, message in [
        (["allow", "com"], "com is a public suffix"),
        (["block", "co.uk"], "co.uk is a public suffix"),
        (["site", "off", "!!"], "not a host name: '!!'"),
        (["site", "off", "com"], "com is a public suffix"),
        (["allow", "a/b"], "not a host name"),
        (["rule", "off", "this is no rule"], "no enabled list has this rule"),
    ]:
        done = tg(tmp_path, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
    assert (tmp_path / "settings.json").read_bytes() == before
    # what the user really means is still possible, on purpose
    forced = tg(tmp_path, "allow", "com", "--force")
    assert forced.returncode == 0 and "com" in load_settings(tmp_path).user_allow


def test_removing_what_was_never_set_says_so_and_exits_1(tmp_path: Path) -> None:
    for args, message in [
        (["allow", "--remove", "never.example"], "never.example: was not always allowed"),
        (["block", "--remove", "never.example"], "never.example: was not always blocked"),
        (["site", "on", "never.example"], "protection was not off on never.example"),
        (["rule", "on", "-d never.example"], "rule was not off: -d never.example"),
    ]:
        done = tg(tmp_path, *args)
        assert done.returncode == 1, (args, done.stderr)
        assert message in done.stderr
    assert not (tmp_path / "settings.json").exists()  # nothing was written


def test_rule_off_names_where_the_rule_is_and_lists_as_json(tmp_path: Path) -> None:
    done = tg(tmp_path, "rule", "off", "-d google-analytics.com")
    assert done.returncode == 0
    assert done.stdout.strip() == "rule off: -d google-analytics.com (builtin:23)"
    assert json.loads(tg(tmp_path, "rule", "list", "--json").stdout) == ["-d google-analytics.com"]
    check = tg(tmp_path, "check", GA, "--source", PAGE, "--json")
    assert check.returncode == 1 and json.loads(check.stdout)["blocked"] is False
    assert tg(tmp_path, "rule", "on", "-d google-analytics.com").returncode == 0
    assert tg(tmp_path, "check", GA, "--source", PAGE).returncode == 0  # blocked again


def test_an_override_decision_names_the_entry_that_matched(tmp_path: Path) -> None:
    assert tg(tmp_path, "allow", "google-analytics.com").returncode == 0
    done = tg(tmp_path, "check", GA, "--source", PAGE)
    assert done.returncode == 1
    assert done.stdout.startswith(
        "allowed by your override `trackguard allow google-analytics.com`"
    )
    data = json.loads(tg(tmp_path, "check", GA, "--source", PAGE, "--json").stdout)
    assert data["override"] == {"setting": "user_allow", "entry": "google-analytics.com"}
    assert data["layer"] == "user-allow"
    assert tg(tmp_path, "block", "tracker.example").returncode == 0
    blocked = json.loads(
        tg(tmp_path, "check", "https://a.b.tracker.example/", "--source", PAGE, "--json").stdout
    )
    assert blocked["override"] == {"setting": "user_block", "entry": "tracker.example"}


def test_state_folder_is_private_from_the_first_command(tmp_path: Path) -> None:
    """Issue 9 defect 7: `allow` as the first command created the folder 0755; files
    left readable by an older version are narrowed on the next start."""
    import os
    import stat

    home = tmp_path / "fresh" / "home"
    old = os.umask(0o022)  # inherited by the subprocesses
    try:
        assert tg(home, "allow", "example.com").returncode == 0
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE((home / "settings.json").stat().st_mode) == 0o600
        leftover = home / "subscriptions.json"
        leftover.write_text("{}")
        leftover.chmod(0o644)
        home.chmod(0o755)
        assert tg(home, "site", "list").returncode == 0
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE(leftover.stat().st_mode) == 0o600
    finally:
        os.umask(old)
