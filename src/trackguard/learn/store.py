"""The learner's store (learning.md §B10): one SQLite file, a key file, and the policy store.

- `learning.sqlite3` holds the tables of §B10 (plus `presence_item` when the opt-in
  presence mode is on). Each writer reads, changes and rewrites it in one transaction
  (`update_state`), so proxy workers and CLI commands writing at once lose nothing;
  `secure_delete` zeroes what a save replaces and the WAL is truncated after it, so the
  files never hold more than the current state (L-7).
- `learning.key` (0600, outside the database) keys the site tags; `wipe` rotates it.
- `policy.sqlite3` holds the user's suggestion verdicts and "never learn here" sites, apart,
  so wiping learning never erases the user's choices (L-9).

Must not: decide anything (that is `core`), or store a site name, URL or cookie value.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from trackguard import sqlite
from trackguard.files import save_atomic
from trackguard.learn.core import LearnState, TrackerRow
from trackguard.learn.model import Remedy, Source

LEARN_DB = "learning.sqlite3"
KEY_FILE = "learning.key"
POLICY_DB = "policy.sqlite3"
KEY_BYTES = 32

_LEARN_SCRIPT = """
CREATE TABLE IF NOT EXISTS learn_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evidence (tracker TEXT NOT NULL, site_tag INTEGER NOT NULL,
    kinds INTEGER NOT NULL, day INTEGER NOT NULL, PRIMARY KEY (tracker, site_tag));
CREATE TABLE IF NOT EXISTS tracker (tracker TEXT PRIMARY KEY, kinds INTEGER NOT NULL,
    site_count INTEGER NOT NULL, first_day INTEGER NOT NULL, last_day INTEGER NOT NULL,
    asset_ratio REAL, responses INTEGER NOT NULL DEFAULT 0,
    decision TEXT CHECK (decision IN ('none','strip','block','path')),
    decided_day INTEGER, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS path_rule (host TEXT NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (host, path));
CREATE TABLE IF NOT EXISTS dnt_check (fqdn TEXT PRIMARY KEY, compliant INTEGER NOT NULL,
    next_day INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS novelty_budget (site_tag INTEGER NOT NULL, day INTEGER NOT NULL,
    used INTEGER NOT NULL, PRIMARY KEY (site_tag, day));
CREATE TABLE IF NOT EXISTS presence_item (item TEXT NOT NULL, site_tag INTEGER NOT NULL,
    day INTEGER NOT NULL, PRIMARY KEY (item, site_tag));
"""
LEARN_SCHEMA = sqlite.Schema(
    version=1,
    tables=(
        "learn_meta",
        "evidence",
        "tracker",
        "path_rule",
        "dnt_check",
        "novelty_budget",
        "presence_item",
    ),
    script=_LEARN_SCRIPT,
    reset=False,
)

_POLICY_SCRIPT = """
CREATE TABLE IF NOT EXISTS suggestion_verdict (tracker TEXT PRIMARY KEY,
    verdict TEXT NOT NULL CHECK (verdict IN ('accepted','rejected')),
    action TEXT NOT NULL, day INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS never_learn (site TEXT PRIMARY KEY);
"""
POLICY_SCHEMA = sqlite.Schema(
    version=1, tables=("suggestion_verdict", "never_learn"), script=_POLICY_SCRIPT, reset=False
)


def load_key(home: Path) -> bytes:
    """The site-tag key, created (0600) on first use.

    Several proxy workers may ask at once on a fresh state folder: the first to create the
    file wins (a hard link that fails if the name exists) and the others read its key, so
    every process tags sites with the same key.
    """
    path = home / KEY_FILE
    for _ in range(5):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            pass
        else:
            return data if len(data) == KEY_BYTES else rotate_key(home)
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        fd, tmp = tempfile.mkstemp(dir=home, prefix=f".{KEY_FILE}-", suffix=".tmp")  # 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(key)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
            return key
        except FileExistsError:
            continue  # another process created it first: read theirs
        finally:
            Path(tmp).unlink(missing_ok=True)
    raise OSError(f"cannot create {path}")


def rotate_key(home: Path) -> bytes:
    """Write a fresh random key (0600 from creation) and return it."""
    key = secrets.token_bytes(KEY_BYTES)
    save_atomic(home / KEY_FILE, key)
    return key


def _connect(home: Path) -> sqlite3.Connection:
    return sqlite.connect(home / LEARN_DB, LEARN_SCHEMA)


def load_state(home: Path) -> LearnState:
    """The learner's tables as a `LearnState` (empty when there is no database yet)."""
    if not (home / LEARN_DB).exists():
        return LearnState()
    with closing(_connect(home)) as conn:
        return _read(conn)


def save_state(home: Path, state: LearnState) -> None:
    """Replace the stored tables with `state` in one transaction, then truncate the WAL.

    Only for a writer that owns the whole state (tests, tools); processes that run beside
    others (proxy workers, `learn from-har`, `learn import`) use `update_state`.
    """
    update_state(home, lambda stored: _replace(stored, state))


def update_state(home: Path, change: Callable[[LearnState], None]) -> LearnState:
    """Read the stored state, `change` it and write it back in one write transaction.

    Several processes write this file at once (every `proxy --workers` process, `learn
    from-har` and `learn import` beside a running proxy): `BEGIN IMMEDIATE` takes the write
    lock before the read, so each writer applies its own new evidence on top of what the
    others saved and none overwrites another's counts. SQLite's busy timeout queues them.
    Returns the state as written (everyone's evidence).
    """
    with closing(_connect(home)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            state = _read(conn)
            change(state)
            _write(conn, state)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        sqlite.checkpoint(conn)
    return state


def _replace(stored: LearnState, state: LearnState) -> None:
    for f in dataclasses.fields(LearnState):
        setattr(stored, f.name, getattr(state, f.name))


def _read(conn: sqlite3.Connection) -> LearnState:
    state = LearnState()
    for tracker, tag, kinds, day in conn.execute("SELECT * FROM evidence"):
        state.evidence.setdefault(tracker, {})[int(tag)] = [int(kinds), int(day)]
    for row in conn.execute(
        "SELECT tracker, kinds, site_count, first_day, last_day, asset_ratio, responses,"
        " decision, decided_day, source FROM tracker"
    ):
        state.trackers[row[0]] = TrackerRow(
            kinds=int(row[1]),
            site_count=int(row[2]),
            first_day=int(row[3]),
            last_day=int(row[4]),
            asset_ratio=row[5],
            responses=int(row[6]),
            decision=Remedy(row[7] or "none"),
            decided_day=row[8],
            source=Source(row[9]),
        )
    state.path_rules = {(h, p) for h, p in conn.execute("SELECT host, path FROM path_rule")}
    for tag, day, used in conn.execute("SELECT site_tag, day, used FROM novelty_budget"):
        state.novelty[(int(tag), int(day))] = int(used)
    for item, tag, day in conn.execute("SELECT item, site_tag, day FROM presence_item"):
        state.presence[(item, int(tag))] = int(day)
    for fqdn, compliant, next_day in conn.execute(
        "SELECT fqdn, compliant, next_day FROM dnt_check"
    ):
        state.dnt[fqdn] = (bool(compliant), int(next_day))
    meta = dict(conn.execute("SELECT key, value FROM learn_meta").fetchall())
    state.recomputed_day = int(meta.get("recomputed_day", -1))
    state.noisy = int(meta.get("noisy", 0))
    return state


def _write(conn: sqlite3.Connection, state: LearnState) -> None:
    """Replace every table's rows with `state` (inside the caller's transaction)."""
    tables = ("evidence", "tracker", "path_rule", "novelty_budget", "presence_item", "dnt_check")
    for table in tables:
        conn.execute(f"DELETE FROM {table}")
    conn.executemany(
        "INSERT INTO evidence VALUES (?, ?, ?, ?)",
        (
            (tracker, tag, kinds, day)
            for tracker, rows in state.evidence.items()
            for tag, (kinds, day) in rows.items()
        ),
    )
    conn.executemany(
        "INSERT INTO tracker VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                name,
                r.kinds,
                r.site_count,
                r.first_day,
                r.last_day,
                r.asset_ratio,
                r.responses,
                r.decision.value,
                r.decided_day,
                r.source.value,
            )
            for name, r in state.trackers.items()
        ),
    )
    conn.executemany("INSERT INTO path_rule VALUES (?, ?)", sorted(state.path_rules))
    conn.executemany(
        "INSERT INTO novelty_budget VALUES (?, ?, ?)",
        ((tag, day, used) for (tag, day), used in state.novelty.items()),
    )
    conn.executemany(
        "INSERT INTO presence_item VALUES (?, ?, ?)",
        ((item, tag, day) for (item, tag), day in state.presence.items()),
    )
    conn.executemany(
        "INSERT INTO dnt_check VALUES (?, ?, ?)",
        ((fqdn, int(ok), day) for fqdn, (ok, day) in state.dnt.items()),
    )
    conn.executemany(
        "INSERT OR REPLACE INTO learn_meta VALUES (?, ?)",
        [("recomputed_day", str(state.recomputed_day)), ("noisy", str(state.noisy))],
    )


def storage_bytes(home: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(home / LEARN_DB) + suffix)
        if path.exists():
            total += path.stat().st_size
    return total


def wipe(home: Path, *, include_verdicts: bool = False) -> int:
    """Delete all learning tables, VACUUM, truncate the WAL and rotate the key (§B10)."""
    deleted = sqlite.wipe(home / LEARN_DB, LEARN_SCHEMA)
    if include_verdicts:
        deleted += sqlite.wipe(home / POLICY_DB, POLICY_SCHEMA)
    rotate_key(home)
    return deleted


# -- the policy store: verdicts and "never learn here" -------------------------------------


def _policy(home: Path) -> sqlite3.Connection:
    return sqlite.connect(home / POLICY_DB, POLICY_SCHEMA)


def load_verdicts(home: Path) -> dict[str, tuple[str, str]]:
    """tracker -> (verdict, action)."""
    if not (home / POLICY_DB).exists():
        return {}
    with closing(_policy(home)) as conn:
        return {
            t: (v, a)
            for t, v, a in conn.execute("SELECT tracker, verdict, action FROM suggestion_verdict")
        }


def save_verdict(home: Path, tracker: str, verdict: str, action: str, day: int) -> None:
    with closing(_policy(home)) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO suggestion_verdict VALUES (?, ?, ?, ?)",
            (tracker, verdict, action, day),
        )


def load_never_learn(home: Path) -> frozenset[str]:
    """The sites on the user's "never learn here" list (registrable domains)."""
    if not (home / POLICY_DB).exists():
        return frozenset()
    with closing(_policy(home)) as conn:
        return frozenset(s for (s,) in conn.execute("SELECT site FROM never_learn"))


def save_never_learn(home: Path, site: str, listed: bool) -> bool:
    """Add (`listed`) or remove one site; True when the list changed."""
    with closing(_policy(home)) as conn:
        if listed:
            sql = "INSERT OR IGNORE INTO never_learn VALUES (?)"
            return conn.execute(sql, (site,)).rowcount > 0
        return sqlite.purge(conn, "DELETE FROM never_learn WHERE site = ?", (site,)) > 0
