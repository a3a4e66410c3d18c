"""Crash-safe file writes, shared by everything that keeps state on disk.

A reader (or the next start after a crash or power cut) sees the old content or the new
one, never a mix: write a temp file in the same folder, fsync it, rename it over the
target, fsync the folder.

Private by default (issue 9 defect 7): trackguard's state says what a person visits and
blocks, so folders are created 0700 and files written 0600 whatever the umask, and
`tighten` narrows what an older version (or another tool) left readable.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path


def save_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably; creates the folder if needed.

    The file is 0600 (mkstemp's mode, kept by the rename); a folder created here is 0700.
    """
    private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def private_folder(folder: Path) -> None:
    """Create `folder` (and missing parents) readable by the owner only.

    Only folders created here are narrowed: an existing parent such as `~/.local/share`
    is the user's business, and `tighten` handles trackguard's own state folder.
    """
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for created in missing:  # mkdir's mode is filtered by the umask; chmod is not
        with suppress(OSError):
            created.chmod(0o700)


def tighten(home: Path) -> int:
    """Make the state folder 0700 and everything in it owner-only; returns how many
    entries were changed. Symlinks are neither followed nor changed; errors are skipped
    (a file another process removes meanwhile is no reason to fail a start)."""
    if not home.is_dir() or home.is_symlink():
        return 0
    changed = _narrow(home, 0o700)
    for root, dirs, files in os.walk(home, followlinks=False):
        base = Path(root)
        changed += sum(_narrow(base / d, 0o700) for d in dirs)
        changed += sum(_narrow(base / f, 0o600) for f in files)
    return changed


def _narrow(path: Path, private: int) -> int:
    """Drop group and other bits of a regular file or folder (1 if it changed)."""
    try:
        mode = path.lstat().st_mode
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)) or not stat.S_IMODE(mode) & 0o077:
            return 0
        os.chmod(path, stat.S_IMODE(mode) & private)
    except OSError:
        return 0
    return 1
