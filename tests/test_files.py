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
    sync_folder(tmp_path / "missing")  # must not raise, nor create the folder
    assert not (tmp_path / "missing").exists()
    save_atomic(tmp_path / "kept.json", b"x")
    sync_folder(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["kept.json"]


def test_state_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """Issue 9 defect 7: `allow` as the first command created the folder 0755."""
    import os
    import stat

    from trackguard.files import save_atomic

    old = os.umask(0o022)
    try:
        home = tmp_path / "a" / "home"
        save_atomic(home / "settings.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "settings.json").stat().st_mode) == 0o600


def test_tighten_narrows_existing_state_but_not_symlink_targets(tmp_path: Path) -> None:
    import os
    import stat

    from trackguard.files import tighten

    home = tmp_path / "home"
    (home / "lists").mkdir(parents=True)
    home.chmod(0o755)
    (home / "lists").chmod(0o755)
    (home / "settings.json").write_text("{}")
    (home / "settings.json").chmod(0o644)
    (home / "lists" / "a.txt").write_text("x")
    (home / "lists" / "a.txt").chmod(0o664)
    outside = tmp_path / "outside.txt"
    outside.write_text("shared")
    outside.chmod(0o644)
    os.symlink(outside, home / "link")
    assert tighten(home) == 4
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "lists").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "settings.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "lists" / "a.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert tighten(home) == 0
