"""The proxy's decision log: SQLite in WAL mode, batched writes, bounded retention.

What is stored (and what is not): time, first-party site, request host, action, deciding
layer, request type, and for list decisions the rule, list and line. Full URLs of allowed
requests are never stored; a blocked request keeps `scheme://host/path` without its query
(the query is where identifiers live). Entries older than the retention (7 days by
default, `Settings.log_retention_days`) are deleted at start-up and hourly; `wipe_log`
erases everything. Deleted entries are zeroed in the file and the WAL is truncated after
each purge and wipe, and the files are private (0600 in a 0700 folder): `trackguard.sqlite`.

Writes never touch the event loop: the server adds to an in-memory batch and a single
writer thread flushes it twice a second. Identical decisions within one flush are
coalesced into one row with a `count` as they are added (a dictionary update on the
proxy's hot path, no list of every request), so a busy page costs a few rows, not
thousands. If the disk stalls, the batch is capped and the overflow is counted, never
buffered without limit. Readers (`trackguard log`, `stats`) open their own connection; WAL lets
them read while the proxy writes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from trackguard import sqlite

LOG_FILE = "proxy-log.sqlite3"
SCHEMA_VERSION = 1
FLUSH_SECONDS = 0.5  # the dashboard's live log shows a decision within about 0.75 s
MAX_PENDING = 200_000
PURGE_EVERY = 3600.0

_SCRIPT = """
CREATE TABLE IF NOT EXISTS decisions (
    id        INTEGER PRIMARY KEY,
    time      REAL NOT NULL,     -- unix time of the first occurrence in its batch
    last_time REAL NOT NULL,     -- unix time of the last occurrence in its batch
    count     INTEGER NOT NULL,  -- identical decisions coalesced into this row
    kind      TEXT NOT NULL,     -- 'http' (plain HTTP / intercepted) or 'tunnel' (CONNECT)
    action    TEXT NOT NULL,     -- 'allow', 'block' or 'strip' (allowed, params removed)
    layer     TEXT NOT NULL,     -- deciding step of TPL spec §A.8 (policy.Layer value)
    type      TEXT NOT NULL,     -- request type, lower case ABP name
    site      TEXT NOT NULL,     -- first-party site, '' when unknown
    host      TEXT NOT NULL,     -- request host
    rule      TEXT,
    list      TEXT,
    line      INTEGER,
    url       TEXT               -- blocked requests only: scheme://host/path, no query
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time);
"""
SCHEMA = sqlite.Schema(version=SCHEMA_VERSION, tables=("decisions",), script=_SCRIPT)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One decision as the log stores it."""

    time: float
    kind: str
    action: str
    layer: str
    type: str
    site: str
    host: str
    rule: str | None = None
    list: str | None = None
    line: int | None = None
    url: str | None = None
    count: int = 1


def log_path(home: Path) -> Path:
    return home / LOG_FILE


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the log database: WAL, 0600, secure delete (`trackguard.sqlite`).

    A log of another schema version is only a log: it is started afresh.
    """
    return sqlite.connect(path, SCHEMA)


def strip_query(url: str) -> str:
    """`scheme://host/path` of a URL: what the log may keep of a blocked request."""
    for sep in "?#":
        i = url.find(sep)
        if i >= 0:
            url = url[:i]
    return url[:2048]


#: The coalescing key: kind, action, layer, type, site, host, rule, list, line, url.
_Key = tuple[str, str, str, str, str, str, str | None, str | None, int | None, str | None]


class DecisionLog:
    """Batched, thread-backed writer. `add` is cheap and safe to call from the event loop."""

    def __init__(
        self,
        path: Path,
        *,
        retention_days: int = 7,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.retention_days = retention_days
        self.dropped = 0
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._lock = threading.Lock()
        #: key -> [first time, last time, count]
        self._pending: dict[_Key, list[float]] = {}
        self._stop = threading.Event()
        self._flushed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_purge = 0.0
        #: Called with every decision as it is added (`trackguard proxy -v`), or None.
        self.echo: Callable[[LogEntry], None] | None = None
        with closing(connect(path)) as conn:
            self._purge(conn)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="trackguard-log", daemon=True)
            self._thread.start()

    def add(self, entry: LogEntry) -> None:
        self.add_fields(
            entry.time,
            entry.kind,
            entry.action,
            entry.layer,
            entry.type,
            entry.site,
            entry.host,
            entry.rule,
            entry.list,
            entry.line,
            entry.url,
            entry.count,
        )

    def add_fields(
        self,
        time: float,
        kind: str,
        action: str,
        layer: str,
        type: str,
        site: str,
        host: str,
        rule: str | None = None,
        list: str | None = None,
        line: int | None = None,
        url: str | None = None,
        count: int = 1,
    ) -> None:
        """`add` without building a LogEntry: the proxy calls this once per request."""
        if self.echo is not None:
            self.echo(LogEntry(time, kind, action, layer, type, site, host, rule, list, line))
        key = (kind, action, layer, type, site, host, rule, list, line, url)
        with self._lock:
            row = self._pending.get(key)
            if row is not None:
                row[2] += count
                if time > row[1]:
                    row[1] = time
                elif time < row[0]:
                    row[0] = time
            elif len(self._pending) >= MAX_PENDING:
                self.dropped += count
            else:
                self._pending[key] = [time, time, count]

    def close(self) -> None:
        """Flush what is pending and stop the writer thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        else:
            with closing(connect(self.path)) as conn:
                self._flush(conn)

    def flush_now(self) -> None:
        """Write pending entries synchronously (tests, shutdown)."""
        with closing(connect(self.path)) as conn:
            self._flush(conn)

    def _run(self) -> None:
        with closing(connect(self.path)) as conn:
            while not self._stop.wait(self._flush_seconds):
                self._flush(conn)
                if self._clock() - self._last_purge > PURGE_EVERY:
                    self._purge(conn)
            self._flush(conn)

    def _purge(self, conn: sqlite3.Connection) -> None:
        self._last_purge = self._clock()
        cutoff = self._last_purge - self.retention_days * 86400
        sqlite.purge(conn, "DELETE FROM decisions WHERE last_time < ?", (cutoff,))

    def _flush(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return
        try:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO decisions (time, last_time, count, kind, action, layer, type, site,"
                " host, rule, list, line, url) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(first, last, int(count), *key) for key, (first, last, count) in batch.items()],
            )
            conn.execute("COMMIT")
        except sqlite3.Error:
            # The log must never take the proxy down (disk full, locked by a wipe...).
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.dropped += int(sum(row[2] for row in batch.values()))


class EchoOnly(DecisionLog):
    """`proxy -v --no-log`: every decision goes to `echo`, none to disk."""

    def __init__(self, echo: Callable[[LogEntry], None]) -> None:  # no database at all
        self.echo = echo
        self.dropped = 0

    def start(self) -> None:
        pass

    def add_fields(
        self,
        time: float,
        kind: str,
        action: str,
        layer: str,
        type: str,
        site: str,
        host: str,
        rule: str | None = None,
        list: str | None = None,
        line: int | None = None,
        url: str | None = None,
        count: int = 1,
    ) -> None:
        assert self.echo is not None
        self.echo(LogEntry(time, kind, action, layer, type, site, host, rule, list, line))

    def close(self) -> None:
        pass

    def flush_now(self) -> None:
        pass


# -- reading ------------------------------------------------------------------------------


@contextmanager
def _reader(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(connect(path)) as conn:
        yield conn


def read_log(
    path: Path,
    *,
    since: float = 0.0,
    limit: int = 100,
    action: str | None = None,
    site: str | None = None,
    host: str | None = None,
) -> list[LogEntry]:
    """Most recent entries first."""
    where: list[str] = ["last_time >= ?"]
    args: list[object] = [since]
    if action:
        where.append("action = ?")
        args.append(action)
    if site:
        where.append("site = ?")
        args.append(site)
    if host:
        where.append("(host = ? OR host LIKE ?)")
        args.extend([host, "%." + host])
    sql = (
        "SELECT last_time, kind, action, layer, type, site, host, rule, list, line, url, count"
        f" FROM decisions WHERE {' AND '.join(where)} ORDER BY last_time DESC, id DESC LIMIT ?"
    )
    with _reader(path) as conn:
        return [LogEntry(*row) for row in conn.execute(sql, (*args, limit))]


def read_new(path: Path, after: int | None = None) -> tuple[int, list[LogEntry]]:
    """Rows added after row id `after`, oldest first, and the last id (`log --follow`).

    `after=None` returns no rows, only the current last id: where following starts.
    """
    with _reader(path) as conn:
        last = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0])
        if after is None or last <= after:
            return last, []
        rows = conn.execute(
            "SELECT id, last_time, kind, action, layer, type, site, host, rule, list, line,"
            " url, count FROM decisions WHERE id > ? ORDER BY id LIMIT 10000",
            (after,),
        ).fetchall()
        return (int(rows[-1][0]) if rows else last), [LogEntry(*row[1:]) for row in rows]


@dataclass(frozen=True, slots=True)
class Stats:
    since: float
    total: int
    by_action: dict[str, int]
    by_kind: dict[str, int]
    #: Allowed tunnels: requests DNT/GPC headers could not be added to (§C.2.3).
    tunnels_allowed: int
    top_blocked_hosts: list[tuple[str, int]]
    top_sites: list[tuple[str, int]]
    top_lists: list[tuple[str, int]]
    top_rules: list[tuple[str, str, int]]


def read_stats(path: Path, *, since: float = 0.0, top: int = 10) -> Stats:
    with _reader(path) as conn:

        def pairs(sql: str) -> list[tuple[str, int]]:
            return [(str(a), int(b)) for a, b in conn.execute(sql, (since, top))]

        total = conn.execute(
            "SELECT COALESCE(SUM(count), 0) FROM decisions WHERE last_time >= ?", (since,)
        ).fetchone()[0]
        by_action = dict(
            conn.execute(
                "SELECT action, SUM(count) FROM decisions WHERE last_time >= ? GROUP BY action",
                (since,),
            ).fetchall()
        )
        by_kind = dict(
            conn.execute(
                "SELECT kind, SUM(count) FROM decisions WHERE last_time >= ? GROUP BY kind",
                (since,),
            ).fetchall()
        )
        tunnels_allowed = conn.execute(
            "SELECT COALESCE(SUM(count), 0) FROM decisions"
            " WHERE last_time >= ? AND kind = 'tunnel' AND action != 'block'",
            (since,),
        ).fetchone()[0]
        return Stats(
            since=since,
            total=int(total),
            by_action={str(k): int(v) for k, v in by_action.items()},
            by_kind={str(k): int(v) for k, v in by_kind.items()},
            tunnels_allowed=int(tunnels_allowed),
            top_blocked_hosts=pairs(
                "SELECT host, SUM(count) AS n FROM decisions WHERE last_time >= ?"
                " AND action = 'block' GROUP BY host ORDER BY n DESC, host LIMIT ?"
            ),
            top_sites=pairs(
                "SELECT site, SUM(count) AS n FROM decisions WHERE last_time >= ?"
                " AND action = 'block' AND site != '' GROUP BY site ORDER BY n DESC, site LIMIT ?"
            ),
            top_lists=pairs(
                "SELECT list, SUM(count) AS n FROM decisions WHERE last_time >= ?"
                " AND action = 'block' AND list IS NOT NULL GROUP BY list"
                " ORDER BY n DESC, list LIMIT ?"
            ),
            top_rules=[
                (str(r), str(li), int(n))
                for r, li, n in conn.execute(
                    "SELECT rule, list, SUM(count) AS n FROM decisions WHERE last_time >= ?"
                    " AND action = 'block' AND rule IS NOT NULL GROUP BY rule, list"
                    " ORDER BY n DESC, rule LIMIT ?",
                    (since, top),
                )
            ],
        )


def wipe_log(path: Path) -> int:
    """Erase every entry and reclaim the space; returns how many rows were deleted."""
    return sqlite.wipe(path, SCHEMA)


@dataclass(frozen=True, slots=True)
class SiteRow:
    """One first-party site as the dashboard shows it."""

    site: str
    requests: int
    blocked: int
    trackers: int  # distinct hosts blocked on it


def read_sites(path: Path, *, since: float = 0.0, limit: int = 200) -> list[SiteRow]:
    """Per first-party site: requests, blocked requests, distinct blocked hosts."""
    with _reader(path) as conn:
        rows = conn.execute(
            "SELECT site, SUM(count), SUM(CASE WHEN action = 'block' THEN count ELSE 0 END),"
            " COUNT(DISTINCT CASE WHEN action = 'block' THEN host END) FROM decisions"
            " WHERE last_time >= ? AND site != '' GROUP BY site"
            " ORDER BY 3 DESC, 2 DESC, site LIMIT ?",
            (since, limit),
        ).fetchall()
    return [SiteRow(str(a), int(b), int(c), int(d)) for a, b, c, d in rows]


def read_series(path: Path, *, since: float, bucket: float = 3600.0) -> list[tuple[float, int]]:
    """Blocked requests per `bucket` seconds since `since`: (bucket start, count)."""
    with _reader(path) as conn:
        rows = conn.execute(
            "SELECT CAST((time - ?) / ? AS INTEGER) AS b, SUM(count) FROM decisions"
            " WHERE time >= ? AND action = 'block' GROUP BY b ORDER BY b",
            (since, bucket, since),
        ).fetchall()
    return [(since + int(b) * bucket, int(n)) for b, n in rows]
