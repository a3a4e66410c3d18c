"""User settings (`trackguard.settings`): documented defaults, strict loading, atomic saves.

Contract (module docstring, issue 11): a file that cannot be read as settings is refused
with file, line and reason and left untouched; it is never replaced by the defaults.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from trackguard.settings import (
    SETTINGS_FILE,
    Settings,
    SettingsError,
    load_settings,
    parse_setting,
    save_settings,
    settings_from_dict,
    settings_to_dict,
    state_dir,
)

DEFAULTS = {
    "protection": True,
    "dnt": False,
    "ie9_dnt": False,
    "gpc": False,
    "strict_ie": False,
    "exempt_sites": (),
    "user_allow": (),
    "user_block": (),
    "site_allow": (),
    "disabled_rules": (),
    "log_retention_days": 7,
    "proxy_host": "127.0.0.1",
    "proxy_port": 8118,
    "allow_from": ("127.0.0.0/8", "::1/128"),
    "extra": {},
}


def test_defaults() -> None:
    assert dataclasses.asdict(Settings()) == DEFAULTS
    assert [f.name for f in dataclasses.fields(Settings)] == list(DEFAULTS)


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().dnt = True  # type: ignore[misc]


def test_replace_returns_a_new_object() -> None:
    base = Settings()
    changed = base.replace(gpc=True, exempt_sites=("news.example",))
    assert (changed.gpc, changed.exempt_sites) == (True, ("news.example",))
    assert (base.gpc, base.exempt_sites) == (False, ())


GOOD = [
    ("protection", False),
    ("dnt", True),
    ("gpc", True),
    ("strict_ie", True),
    ("exempt_sites", ["news.example", "shop.example"]),
    ("user_allow", ["cdn.example"]),
    ("user_block", []),
    ("log_retention_days", 30),
    ("proxy_host", "0.0.0.0"),
    ("proxy_port", 3128),
    ("allow_from", ["10.0.0.0/8"]),
    ("extra", {"theme": "dark", "n": [1, 2]}),
]


@pytest.mark.parametrize(("key", "value"), GOOD)
def test_good_values_are_taken(key: str, value: object) -> None:
    loaded = getattr(settings_from_dict({key: value}), key)
    assert loaded == (tuple(value) if isinstance(value, list) else value)


BAD = [
    ("protection", "yes"),  # not a bool
    ("protection", 1),
    ("dnt", None),
    ("log_retention_days", "7"),
    ("log_retention_days", True),  # bool is an int in Python; not here
    ("log_retention_days", 7.5),
    ("proxy_port", "8118"),
    ("proxy_host", 127),
    ("exempt_sites", "news.example"),  # a string, not a list
    ("exempt_sites", ["ok.example", 3]),  # not all strings
    ("allow_from", None),
    ("extra", ["not", "a", "dict"]),
]


@pytest.mark.parametrize(("key", "value"), BAD)
def test_bad_values_are_refused_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=key):
        settings_from_dict({key: value, "gpc": True})


@pytest.mark.parametrize(
    ("key", "value"),
    [("proxy_port", 70000), ("proxy_port", -1), ("allow_from", ["not-a-network"])],
)
def test_unusable_values_are_refused(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=key):
        settings_from_dict({key: value})


def test_unknown_keys_are_refused() -> None:
    """A typo in a key name (`dtn`) must not be silently ignored."""
    with pytest.raises(ValueError, match="unknown setting 'no_such_key'"):
        settings_from_dict({"no_such_key": 1, "dnt": True})


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("dnt", "on", True),
        ("dnt", "OFF", False),
        ("gpc", "true", True),
        ("log_retention_days", "30", 30),
        ("proxy_host", " ::1 ", "::1"),
        ("allow_from", "10.0.0.0/8, 127.0.0.0/8", ("10.0.0.0/8", "127.0.0.0/8")),
        ("exempt_sites", '["a.example"]', ("a.example",)),
        ("user_allow", "", ()),
        ("extra", '{"k": 1}', {"k": 1}),
    ],
)
def test_parse_setting_from_command_line_text(name: str, text: str, value: object) -> None:
    assert parse_setting(name, text) == value


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("dnt", "maybe"),
        ("log_retention_days", "-1"),
        ("log_retention_days", "seven"),
        ("proxy_port", "99999"),
        ("allow_from", "nonsense"),
        ("extra", "[1]"),
        ("no_such", "1"),
    ],
)
def test_parse_setting_refuses_bad_text(name: str, text: str) -> None:
    with pytest.raises(ValueError):
        parse_setting(name, text)


def test_dict_round_trip() -> None:
    custom = Settings(dnt=True, exempt_sites=("a.example",), proxy_port=9000, extra={"k": "v"})
    data = settings_to_dict(custom)
    assert data["exempt_sites"] == ["a.example"]  # JSON-ready: lists, not tuples
    json.dumps(data)
    assert settings_from_dict(data) == custom


# --- files ----------------------------------------------------------------------------------


def test_state_dir_follows_trackguard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKGUARD_HOME", str(tmp_path / "home"))
    assert state_dir() == tmp_path / "home"


def test_state_dir_default_is_a_per_user_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKGUARD_HOME", raising=False)
    assert state_dir().name == "trackguard"
    assert state_dir().is_absolute()


def test_save_and_load_round_trip_with_trackguard_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "new" / "home"
    monkeypatch.setenv("TRACKGUARD_HOME", str(home))
    custom = Settings(
        protection=False,
        gpc=True,
        exempt_sites=("news.example",),
        user_block=("tracker.example",),
        proxy_port=9999,
        extra={"nested": {"a": [1, "b"]}},
    )
    save_settings(custom)  # creates the folder
    assert sorted(p.name for p in home.iterdir()) == [SETTINGS_FILE]  # no temp file left
    assert load_settings() == custom
    assert json.loads((home / SETTINGS_FILE).read_text(encoding="utf-8"))["proxy_port"] == 9999


def test_explicit_home_wins_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKGUARD_HOME", str(tmp_path / "env"))
    save_settings(Settings(dnt=True), tmp_path / "explicit")
    assert load_settings(tmp_path / "explicit").dnt is True
    assert load_settings() == Settings()


def test_save_overwrites(tmp_path: Path) -> None:
    save_settings(Settings(dnt=True), tmp_path)
    save_settings(Settings(gpc=True), tmp_path)
    assert load_settings(tmp_path) == Settings(gpc=True)


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("{not json", 1, "not valid JSON"),
        ('{\n  "dnt": true,\n  "gpc": tru\n}', 3, "not valid JSON"),
        ("[1, 2]", 1, "JSON object"),
        ("null", 1, "JSON object"),
        ('"string"', 1, "JSON object"),
        ('{\n  "dnt": true,\n  "proxy_port": "eighty"\n}', 3, "proxy_port must be a whole"),
        ('{\n  "dtn": true\n}', 2, "unknown setting 'dtn'"),
    ],
    ids=["broken", "typo", "list", "null", "string", "bad-value", "unknown-key"],
)
def test_unusable_file_is_refused_with_file_line_and_reason(
    tmp_path: Path, content: str, line: int, reason: str
) -> None:
    path = tmp_path / SETTINGS_FILE
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path)
    assert (caught.value.path, caught.value.line) == (path, line)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert path.read_text(encoding="utf-8") == content  # untouched


def test_binary_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_bytes(b"\xff\xfe{")
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings(tmp_path)


@pytest.mark.parametrize("content", ["", "  \n"])
def test_empty_file_gives_defaults(tmp_path: Path, content: str) -> None:
    (tmp_path / SETTINGS_FILE).write_text(content, encoding="utf-8")
    assert load_settings(tmp_path) == Settings()


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "nowhere") == Settings()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert load_settings(tmp_path / "file") == Settings()  # no state folder at all


def test_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_settings(Settings(dnt=True), tmp_path)

    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("trackguard.files.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_settings(Settings(gpc=True), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [SETTINGS_FILE]
    assert load_settings(tmp_path) == Settings(dnt=True)


def test_saved_file_is_fully_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr("trackguard.files.os.fsync", fsync)
    save_settings(Settings(), tmp_path)
    assert len(synced) == 2  # the file before the rename, then its folder after it
