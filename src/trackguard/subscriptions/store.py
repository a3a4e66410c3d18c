"""The state folder on disk: subscription records, last good copies, engine cache, locks.

Layout (under `$TRACKGUARD_HOME` or the platform data dir):

    settings.json          user settings (trackguard.settings)
    subscriptions.json     every subscription's record (state.py), replaced atomically
    lists/<id>-<sha>.txt   the last good copy of each list, named by its content hash
    engine/engine.cache    the compiled engine for the enabled lists (trackguard.engine)
    engine/engine-<h>.cache  the same plus a set of extra list files (the proxy's --list)
    state.lock             flock: writers exclusive, readers shared, held for milliseconds
    update.lock            flock: held for a whole update run, so downloads never overlap

Why JSON and not SQLite: there are tens of records, written a few times a day; one small
file is easy to read, back up and repair by hand, and `os.replace` gives the one property
that matters, an all-or-nothing switch from the old state to the new. SQLite would add
journal files next to it and nothing we need.

Why content-hash body names: a new copy is written under a new name first, then the
record is switched to it in one rename, then the old copy is deleted. A crash (or
SIGKILL) at any point leaves either the old record with its old file or the new record
with its new file; leftovers are swept on the next write.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

from trackguard.files import save_atomic
from trackguard.model import TrackguardError
from trackguard.subscriptions.state import (
    State,
    StateError,
    Subscription,
    state_from_dict,
    state_to_dict,
)

STATE_FILE = "subscriptions.json"
LISTS_DIR = "lists"
ENGINE_DIR = "engine"
ENGINE_CACHE = "engine.cache"
STATE_LOCK = "state.lock"
UPDATE_LOCK = "update.lock"


class StateFolderError(TrackguardError):
    """The state folder cannot be created, read or written."""


def load_builtin_bytes() -> bytes:
    """The built-in default list shipped inside the package (`trackguard/data/default.tpl`)."""
    return resources.files("trackguard").joinpath("data/default.tpl").read_bytes()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store:
    """File-level access to one state folder. Holds no state of its own besides paths."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.state_file = home / STATE_FILE
        self.lists_dir = home / LISTS_DIR
        self.engine_cache = home / ENGINE_DIR / ENGINE_CACHE

    # --- folders and locks ------------------------------------------------------------

    def create(self) -> None:
        """Create the folder tree; private to the user (it reveals what they block)."""
        try:
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.lists_dir.mkdir(mode=0o700, exist_ok=True)
            self.engine_cache.parent.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StateFolderError(
                f"cannot create the state folder {self.home}: {exc.strerror}; set "
                "TRACKGUARD_HOME to a writable folder"
            ) from None

    @contextlib.contextmanager
    def _flock(self, name: str, operation: int) -> Iterator[bool]:
        """flock on a lock file; yields False if LOCK_NB was asked and the lock is busy.

        Each use opens the file anew, so two threads of one process exclude each other
        just like two processes do. The kernel drops the lock when a process dies, so a
        killed update never leaves the folder locked.
        """
        self.create()
        fd = os.open(self.home / name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, operation)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    yield False
                    return
                raise
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Exclusive access for a read-modify-write of the records and list files."""
        with self._flock(STATE_LOCK, fcntl.LOCK_EX):
            yield

    @contextlib.contextmanager
    def read_lock(self) -> Iterator[None]:
        """Shared access: records and the list files they name stay consistent meanwhile."""
        with self._flock(STATE_LOCK, fcntl.LOCK_SH):
            yield

    @contextlib.contextmanager
    def update_lock(self, *, wait: bool = True) -> Iterator[bool]:
        """Held for a whole update run; yields False if busy and `wait` is False."""
        operation = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        with self._flock(UPDATE_LOCK, operation) as acquired:
            yield acquired

    # --- records ----------------------------------------------------------------------

    def exists(self) -> bool:
        return self.state_file.is_file()

    def load_state(self) -> State:
        """Read the records; an absent file is an empty state (first run)."""
        try:
            raw = self.state_file.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise StateFolderError(f"cannot read {self.state_file}: {exc.strerror}") from None
        try:
            return state_from_dict(json.loads(raw.decode("utf-8")))
        except (ValueError, StateError) as exc:
            raise StateError(
                f"{self.state_file} is damaged ({exc}); move it away and run "
                "`trackguard lists` to start over with the built-in list"
            ) from None

    def save_state(self, state: State) -> None:
        """Replace the records atomically. Call with `write_lock` held."""
        data = json.dumps(state_to_dict(state), indent=2, ensure_ascii=False) + "\n"
        save_atomic(self.state_file, data.encode("utf-8"))

    # --- list bodies ------------------------------------------------------------------

    def write_body(self, list_id: str, body: bytes) -> str:
        """Store a last-good-copy candidate durably; returns its file name in `lists/`.

        Call with `write_lock` held, then point the record at the name (`save_state`).
        """
        digest = sha256_hex(body)
        name = f"{list_id}-{digest[:16]}.txt"
        path = self.lists_dir / name
        try:
            intact = sha256_hex(path.read_bytes()) == digest
        except OSError:
            intact = False
        if not intact:
            save_atomic(path, body)
        return name

    def read_body(self, file_name: str) -> bytes:
        return (self.lists_dir / file_name).read_bytes()

    def has_intact_copy(self, sub: Subscription) -> bool:
        """Whether the record's stored copy exists and matches its hash."""
        if sub.file is None:
            return sub.builtin
        try:
            return sha256_hex(self.read_body(sub.file)) == sub.sha256
        except OSError:
            return False

    def engine_cache_for(self, extra_names: Sequence[str]) -> Path:
        """One cache per set of extra list files, so `check` and a proxy started with
        `--list` files do not keep overwriting each other's (expensive) build.
        Caches for extra-file sets unused for 30 days are deleted.
        """
        if not extra_names:
            return self.engine_cache
        digest = sha256_hex("\0".join(sorted(extra_names)).encode("utf-8"))[:12]
        path = self.engine_cache.parent / f"engine-{digest}.cache"
        cutoff = time.time() - 30 * 86400
        with contextlib.suppress(OSError):
            for old in self.engine_cache.parent.glob("engine-*.cache"):
                if old != path and old.stat().st_mtime < cutoff:
                    old.unlink()
        return path

    def sweep(self, state: State) -> None:
        """Delete list files no record names, and temp files of interrupted writes.

        Call with `write_lock` held: every body write happens under it, so nothing
        unreferenced can be in use.
        """
        keep = {s.file for s in state.subscriptions if s.file}
        for folder in (self.lists_dir, self.home):
            try:
                entries = list(folder.iterdir())
            except OSError:
                continue
            for path in entries:
                # Only our own temp files: settings.json has its own writer and no lock.
                ours = folder == self.lists_dir or path.name.startswith(f".{STATE_FILE}-")
                stray_tmp = ours and path.name.startswith(".") and path.name.endswith(".tmp")
                orphan = folder == self.lists_dir and path.name not in keep
                if stray_tmp or orphan:
                    with contextlib.suppress(OSError):
                        path.unlink()
