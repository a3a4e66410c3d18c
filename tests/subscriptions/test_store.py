"""The state folder: atomic writes, content-named copies, sweeping, locks."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trackguard.model import Format
from trackguard.subscriptions.state import State, StateError, Subscription
from trackguard.subscriptions.store import (
    StateFolderError,
    Store,
    load_builtin_bytes,
    sha256_hex,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(file: str | None) -> Subscription:
    return Subscription(
        id="feed", name="Feed", url="https://l.example/f", format=Format.ABP, added=T0, file=file
    )


def test_state_round_trip_and_first_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    assert not store.exists() and store.load_state() == State()
    state = State((record(None),))
    with store.write_lock():
        store.save_state(state)
    assert store.load_state() == state
    assert oct((tmp_path / "home").stat().st_mode & 0o777) == "0o700"


def test_damaged_state_file_says_what_to_do(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.create()
    store.state_file.write_text('{"version": 1, "subscriptions": [{"id": 1}]}')
    with pytest.raises(StateError, match="move it away"):
        store.load_state()


def test_bodies_are_named_by_content_and_swept_when_unreferenced(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.create()
    with store.write_lock():
        first = store.write_body("feed", b"one")
        second = store.write_body("feed", b"two")
        assert first != second and sha256_hex(b"one")[:16] in first
        assert store.write_body("feed", b"one") == first  # same content, same file
        (store.lists_dir / ".feed-x.tmp").write_bytes(b"half")  # an interrupted write
        (tmp_path / ".subscriptions.json-y.tmp").write_bytes(b"half")
        (tmp_path / ".settings-z.tmp").write_bytes(b"not ours")
        store.sweep(State((record(second),)))
    assert sorted(p.name for p in store.lists_dir.iterdir()) == [second]
    assert store.read_body(second) == b"two"
    assert (tmp_path / ".settings-z.tmp").exists()  # settings.json has its own writer
    assert not (tmp_path / ".subscriptions.json-y.tmp").exists()


def test_update_lock_can_be_tried_without_waiting(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.update_lock() as held:
        assert held
        with store.update_lock(wait=False) as second:
            assert not second  # flock excludes even within one process
    with store.update_lock(wait=False) as again:
        assert again


def test_writers_exclude_readers(tmp_path: Path) -> None:
    store = Store(tmp_path)
    order: list[str] = []
    with store.write_lock():
        reader = threading.Thread(target=lambda: _read(store, order))
        reader.start()
        time.sleep(0.2)
        order.append("writer done")
    reader.join(5)
    assert order == ["writer done", "reader"]


def _read(store: Store, order: list[str]) -> None:
    with store.read_lock():
        order.append("reader")


def test_unusable_folder_gives_an_actionable_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateFolderError, match="TRACKGUARD_HOME"):
        Store(blocker / "home").create()


def test_builtin_list_ships_in_the_package() -> None:
    assert load_builtin_bytes().startswith(b"msFilterList\n")
