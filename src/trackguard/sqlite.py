"""Private SQLite databases that several processes share: the decision log, the learner's store.

Use it like this::

    SCHEMA = Schema(version=1, tables=("seen",), script="CREATE TABLE IF NOT EXISTS seen (...);")
    with closing(connect(path, SCHEMA)) as conn:
        conn.execute("INSERT ...")                       # autocommit; BEGIN/COMMIT yourself
        purge(conn, "DELETE FROM seen WHERE t < ?", (cutoff,))
    wipe(path, SCHEMA)                                  # erase every row, reclaim the space

What every database gets, so no store has to remember it:
- WAL mode (readers never wait for the writer) and `synchronous=NORMAL`; opening retries
  "database is locked", which switching to WAL raises at once, not after the busy timeout,
  when several processes (`proxy --workers`) create the same file together.
- A schema version in `PRAGMA user_version`. A file of another version is reset (its tables
  dropped and created afresh) or, with `Schema(reset=False)`, refused with `SchemaError`.
- Privacy of what is deleted: `PRAGMA secure_delete=ON` on every connection overwrites
  deleted rows and freed pages with zeros; `purge` and `wipe` then checkpoint the WAL with
  TRUNCATE so no old copy of a page survives in the `-wal` file either.
- The database and its `-wal`/`-shm` files are 0600 and their folder 0700; existing ones are
  tightened on every open (SQLite gives `-wal`/`-shm` the database file's mode).

Must not: know any table of its callers, or hide errors other than "locked" while opening.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Schema", "SchemaError", "checkpoint", "connect", "purge", "wipe"]

#: Side files SQLite keeps next to a database in WAL mode.
SIDE_SUFFIXES = ("-wal", "-shm")


@dataclass(frozen=True, slots=True)
class Schema:
    """What a database should contain.

    `script` holds `CREATE TABLE/INDEX IF NOT EXISTS` statements; `tables` names the tables
    it creates (dropped when the file holds another version, emptied by `wipe`).
    """

    version: int
    tables: tuple[str, ...]
    script: str
    #: True: a file of another version is started afresh (a log). False: raise SchemaError
    #: (a store whose data must not vanish silently).
    reset: bool = True


class SchemaError(RuntimeError):
    """The database holds another schema version and its schema says not to reset it."""

    def __init__(self, path: Path, found: int, expected: int) -> None:
        super().__init__(
            f"{path} has schema version {found}, this trackguard uses {expected};"
            " move the file aside to start afresh"
        )
        self.path = path
        self.found = found
        self.expected = expected


def connect(path: Path, schema: Schema, *, attempts: int = 50) -> sqlite3.Connection:
    """Open (creating if needed) the database at `path` with `schema`, in WAL mode.

    The connection is in autocommit mode (`isolation_level=None`): issue BEGIN/COMMIT
    yourself. Its busy timeout is 10 s. Close it (`contextlib.closing`).
    """
    for attempt in range(attempts):
        try:
            return _connect(path, schema)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 + 0.05 * (attempt % 4))
    raise AssertionError("unreachable")  # pragma: no cover


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the WAL into the database and truncate the `-wal` file to zero bytes.

    If another connection is reading at that moment the WAL cannot be truncated; the busy
    timeout is waited for and the next checkpoint finishes the job.
    """
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def purge(conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()) -> int:
    """Run a DELETE statement so what it deletes cannot be read back from the files.

    Returns the number of rows deleted. With `secure_delete` (set by `connect`) the rows are
    zeroed in their pages; the checkpoint removes the older copies of those pages the WAL
    still holds.
    """
    deleted = conn.execute(sql, params).rowcount
    checkpoint(conn)
    return max(deleted, 0)


def wipe(path: Path, schema: Schema) -> int:
    """Delete every row of the schema's tables, shrink the file and truncate the WAL.

    Returns the number of rows deleted; 0 when there is no database.
    """
    if not path.exists():
        return 0
    with closing(connect(path, schema)) as conn:
        deleted = 0
        for table in schema.tables:
            deleted += max(conn.execute(f'DELETE FROM "{table}"').rowcount, 0)
        conn.execute("VACUUM")
        checkpoint(conn)
    return deleted


def _connect(path: Path, schema: Schema) -> sqlite3.Connection:
    _prepare_files(path)
    conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, schema.version):
            if not schema.reset:
                raise SchemaError(path, version, schema.version)
            conn.executescript("".join(f'DROP TABLE IF EXISTS "{t}";' for t in schema.tables))
        conn.executescript(schema.script)
        conn.execute(f"PRAGMA user_version = {int(schema.version)}")
        # SQLite created the side files now, with the database file's mode; an old
        # -wal/-shm left by an earlier version with looser modes is tightened here.
        for suffix in SIDE_SUFFIXES:
            _tighten(Path(str(path) + suffix), 0o600)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare_files(path: Path) -> None:
    """Folder 0700 and the database file 0600, created so before SQLite ever opens them."""
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(folder, 0o700)
    # O_CREAT with mode 0600: the file never exists with looser permissions, whatever the
    # umask; SQLite then creates -wal and -shm with this file's mode.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    _tighten(path, 0o600)


def _tighten(path: Path, mode: int) -> None:
    """Remove permission bits beyond `mode` from a file or folder.

    One we do not own (a shared folder) is left as it is: chmod is not ours to do there.
    """
    with suppress(FileNotFoundError, PermissionError):
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            os.chmod(path, current & mode)
