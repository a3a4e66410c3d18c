"""engine_for and EngineHolder: cached builds, rebuilt only when enabled lists change."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from trackguard.settings import Settings
from trackguard.subscriptions import EngineHolder, engine_for, engine_key
from trackguard.subscriptions.service import add_list, load_subscriptions, set_enabled
from trackguard.subscriptions.state import BUILTIN_ID
from trackguard.subscriptions.store import Store

GA = "https://www.google-analytics.com/collect"
PAGE = "https://news.example/"


def local_list(tmp_path: Path, name: str, *hosts: str) -> Path:
    path = tmp_path / name
    path.write_text("msFilterList\n" + "".join(f"-d {h}\n" for h in hosts))
    return path


def test_fresh_state_blocks_google_analytics_with_the_builtin_list(home: Path) -> None:
    engine = engine_for(home)
    decision = engine.check(GA, PAGE, "image")
    assert decision.blocked and decision.list == BUILTIN_ID
    assert not engine.check(GA, "https://www.google-analytics.com/", "image").blocked


def test_cache_is_written_and_reused(home: Path) -> None:
    engine_for(home)
    cache = Store(home).engine_cache
    assert cache.is_file()
    stamp = cache.stat().st_mtime_ns
    engine_for(home)
    assert cache.stat().st_mtime_ns == stamp  # loaded, not rebuilt


def test_key_changes_only_when_enabled_lists_change(home: Path, tmp_path: Path) -> None:
    first = engine_key(home)
    assert engine_key(home) == first
    add_list(str(local_list(tmp_path, "a.tpl", "a.example")), home=home, enabled=False)
    assert engine_key(home) == first  # a disabled list does not count
    set_enabled("a", True, home=home)
    second = engine_key(home)
    assert second != first
    assert engine_key(home, settings=Settings(strict_ie=True)) != second
    extra = local_list(tmp_path, "extra.tpl", "extra.example")
    assert engine_key(home, [extra]) != second


def test_extra_files_are_added_under_their_file_name(home: Path, tmp_path: Path) -> None:
    extra = local_list(tmp_path, "mine.tpl", "mine.example")
    decision = engine_for(home, [extra]).check("https://mine.example/x", PAGE, "script")
    assert decision.blocked and decision.list == "mine.tpl"


def test_a_damaged_copy_is_left_out_and_the_rest_still_protects(
    home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sub = add_list(str(local_list(tmp_path, "a.tpl", "a.example")), home=home)
    assert sub.file is not None
    (home / "lists" / sub.file).write_text("msFilterList\n-d evil-change.example\n")
    engine = engine_for(home)
    assert not engine.check("https://evil-change.example/", PAGE, "image").blocked
    assert engine.check(GA, PAGE, "image").blocked
    assert "damaged" in caplog.text


def test_unusable_state_folder_falls_back_to_the_builtin_list(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    engine = engine_for(blocker / "home")
    assert engine.check(GA, PAGE, "image").blocked


def test_holder_swaps_in_a_new_engine_only_on_change(home: Path, tmp_path: Path) -> None:
    holder = EngineHolder(home)
    first = holder.engine
    assert holder.refresh() is False and holder.engine is first
    add_list(str(local_list(tmp_path, "b.tpl", "b.example")), home=home)
    assert holder.refresh() is True
    assert holder.engine is not first
    assert holder.engine.check("https://b.example/", PAGE, "image").blocked
    # The old engine object is untouched: a request being matched with it finishes.
    assert not first.check("https://b.example/", PAGE, "image").blocked


def test_matching_continues_during_a_rebuild(home: Path, tmp_path: Path) -> None:
    holder = EngineHolder(home)
    stop = threading.Event()
    answers: list[bool] = []

    def match() -> None:
        while not stop.is_set():
            answers.append(holder.engine.check(GA, PAGE, "image").blocked)

    thread = threading.Thread(target=match)
    thread.start()
    try:
        add_list(str(local_list(tmp_path, "c.tpl", "c.example")), home=home)
        assert holder.refresh()
    finally:
        stop.set()
        thread.join(5)
    assert answers and all(answers)  # GA was blocked on every check, before and after
    set_enabled(BUILTIN_ID, False, home=home)
    assert holder.refresh()
    assert not holder.engine.check(GA, PAGE, "image").blocked
    assert load_subscriptions(home).get("c") is not None


def test_extra_files_get_their_own_cache(home: Path, tmp_path: Path) -> None:
    extra = local_list(tmp_path, "mine.tpl", "mine.example")
    engine_for(home)
    engine_for(home, [extra])
    caches = sorted(p.name for p in (home / "engine").glob("*.cache"))
    assert len(caches) == 2 and "engine.cache" in caches
    plain = Store(home).engine_cache.stat().st_mtime_ns
    engine_for(home, [extra])
    assert Store(home).engine_cache.stat().st_mtime_ns == plain  # not overwritten
