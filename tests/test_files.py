"""Crash-safe writes: the old content survives any failure, no temp files are left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trackguard.files import save_atomic, sync_folder


def test_save_atomic_creates_folders_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "state.json"
    save_atomic(target, b"one")
    assert target.read_bytes() == b"one"
    save_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_failed_write_keeps_the_old_content_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    save_atomic(target, b"old")
    with pytest.raises(TypeError):
        save_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failed_rename_keeps_the_old_content_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.json"
    save_atomic(target, b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_sync_folder_tolerates_missing_folders(tmp_path: Path) -> None:
    sync_folder(tmp_path / "missing")  # must not raise
    sync_folder(tmp_path)
