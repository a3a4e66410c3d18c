"""trackguard.sqlite: private WAL databases whose deleted rows cannot be read back.

The privacy tests read the raw bytes of the database, its WAL and its free pages while a
connection is still open (as the proxy's writer keeps one), and look for deleted URLs.
Each has a control run with SQLite's defaults that finds them, so the check can fail.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from trackguard.sqlite import Schema, SchemaError, connect, purge, wipe

SCHEMA = Schema(
    version=3,
    tables=("seen",),
    script="CREATE TABLE IF NOT EXISTS seen (id INTEGER PRIMARY KEY, t REAL, url TEXT);",
)
SECRET = b"SECRET-PATH"


def fill(conn: sqlite3.Connection, secrets: int = 2000, kept: int = 2000) -> None:
    """Old rows with secret URLs and newer rows without; some pages only reach the WAL."""
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO seen (t, url) VALUES (?, ?)",
        [(float(i), f"http://tracker.test/{SECRET.decode()}/{i}") for i in range(secrets)]
        + [(1e9 + i, "http://cdn.test/kept") for i in range(kept)],
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the secrets now sit in the file...
    conn.execute("BEGIN")
    conn.execute("UPDATE seen SET t = t + 0.5 WHERE id < 200")  # ...and again in the WAL
    conn.execute("COMMIT")


def raw_hits(path: Path) -> dict[str, int]:
    """Occurrences of the secret in the database file and its side files."""
    hits = {}
    for suffix in ("", "-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            hits[suffix or "db"] = side.read_bytes().count(SECRET)
    return hits


def test_purge_leaves_no_deleted_url_in_file_wal_or_free_pages(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with closing(connect(path, SCHEMA)) as conn:
        fill(conn)
        assert sum(raw_hits(path).values()) > 0  # the secrets are there to be found
        deleted = purge(conn, "DELETE FROM seen WHERE t < ?", (1e9,))
        assert deleted == 2000
        # The freed pages stay in the file as free pages (no VACUUM on a purge).
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 0
        assert raw_hits(path) == {"db": 0, "-wal": 0, "-shm": 0}
        assert Path(str(path) + "-wal").stat().st_size == 0
        assert conn.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 2000


def test_control_sqlite_defaults_keep_deleted_urls(tmp_path: Path) -> None:
    """Without secure_delete and the checkpoint, the same delete leaves the URLs readable."""
    path = tmp_path / "db.sqlite3"
    with closing(connect(path, SCHEMA)) as conn:
        conn.execute("PRAGMA secure_delete=OFF")
        fill(conn)
        conn.execute("DELETE FROM seen WHERE t < ?", (1e9,))
        hits = raw_hits(path)
        assert hits["db"] > 0 and hits["-wal"] > 0


def test_wipe_empties_shrinks_and_leaves_no_url(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with closing(connect(path, SCHEMA)) as writer:  # a writer stays open, as the proxy's does
        fill(writer)
        size_before = path.stat().st_size
        assert wipe(path, SCHEMA) == 4000
        assert writer.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 0
        assert raw_hits(path) == {"db": 0, "-wal": 0, "-shm": 0}
        assert path.stat().st_size < size_before
    assert wipe(tmp_path / "missing.sqlite3", SCHEMA) == 0
    assert not (tmp_path / "missing.sqlite3").exists()


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "home" / "sub" / "db.sqlite3"
    with umask(0o000), closing(connect(path, SCHEMA)) as conn:
        conn.execute("INSERT INTO seen (t, url) VALUES (1, 'x')")
        assert mode(path) == 0o600
        assert mode(Path(str(path) + "-wal")) == 0o600
        assert mode(Path(str(path) + "-shm")) == 0o600
        assert mode(path.parent) == 0o700


def test_existing_loose_files_are_tightened_on_open(tmp_path: Path) -> None:
    folder = tmp_path / "home"
    folder.mkdir(mode=0o755)
    path = folder / "db.sqlite3"
    with closing(connect(path, SCHEMA)) as conn:
        conn.execute("INSERT INTO seen (t, url) VALUES (1, 'x')")
        for name in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
            os.chmod(name, 0o666)
        os.chmod(folder, 0o777)
        with closing(connect(path, SCHEMA)):
            for name in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
                assert mode(name) == 0o600, name
            assert mode(folder) == 0o700


def test_schema_version_reset_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE seen (other)")
        conn.execute("INSERT INTO seen VALUES (1)")
        conn.execute("PRAGMA user_version = 99")
        conn.commit()
    strict = Schema(SCHEMA.version, SCHEMA.tables, SCHEMA.script, reset=False)
    with pytest.raises(SchemaError, match="version 99"):
        connect(path, strict)
    with closing(connect(path, SCHEMA)) as conn:  # a log: started afresh
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert conn.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 0
        conn.execute("INSERT INTO seen (t, url) VALUES (1, 'x')")
    with closing(connect(path, strict)) as conn:  # same version: data kept
        assert conn.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
