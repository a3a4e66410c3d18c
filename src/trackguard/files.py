"""Crash-safe file writes, shared by everything that keeps state on disk.

A reader (or the next start after a crash or power cut) sees the old content or the new
one, never a mix: write a temp file in the same folder, fsync it, rename it over the
target, fsync the folder.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path


def save_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably; creates the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
