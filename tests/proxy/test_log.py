"""The SQLite decision log: batching, coalescing, retention, reading, wiping."""

from __future__ import annotations

import sqlite3
import stat
import time
from contextlib import closing
from pathlib import Path

from trackguard.proxy.log import (
    DecisionLog,
    EchoOnly,
    LogEntry,
    connect,
    read_log,
    read_new,
    read_stats,
    strip_query,
    wipe_log,
)

DAY = 86400.0


def entry(t: float, action: str = "allow", host: str = "cdn.test", **kw: object) -> LogEntry:
    base: dict[str, object] = dict(
        time=t,
        kind="http",
        action=action,
        layer="no-match",
        type="script",
        site="site.test",
        host=host,
    )
    base.update(kw)
    return LogEntry(**base)  # type: ignore[arg-type]


def test_wal_mode_coalescing_and_reading(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    now = [1_000_000.0]
    log = DecisionLog(path, clock=lambda: now[0])
    for i in range(100):
        log.add(entry(now[0] + i * 0.01))
    blocked = entry(
        now[0] + 2,
        "block",
        "tracker.test",
        layer="list-block",
        rule="-d tracker.test",
        list="l.tpl",
        line=3,
        url="http://tracker.test/t.js",
    )
    log.add(blocked)
    log.flush_now()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 2
    rows = read_log(path)
    assert rows[0].action == "block" and rows[0].rule == "-d tracker.test"
    assert rows[1].count == 100 and rows[1].url is None
    assert read_log(path, action="block", host="tracker.test")[0].line == 3
    assert read_log(path, site="other.test") == []
    stats = read_stats(path)
    assert stats.total == 101 and stats.by_action == {"allow": 100, "block": 1}
    assert stats.top_blocked_hosts == [("tracker.test", 1)]
    assert stats.top_rules == [("-d tracker.test", "l.tpl", 1)]


def test_retention_purges_old_entries(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    now = 10 * DAY
    log = DecisionLog(path, retention_days=7, clock=lambda: now)
    log.add(entry(now - 8 * DAY, host="old.test"))
    log.add(entry(now - 1 * DAY, host="new.test"))
    log.flush_now()
    DecisionLog(path, retention_days=7, clock=lambda: now)  # start-up purge
    assert [e.host for e in read_log(path)] == ["new.test"]


def test_writer_thread_flushes_and_close_drains(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    log = DecisionLog(path, flush_seconds=0.05)
    log.start()
    for i in range(10):
        log.add(entry(1e9 + i, host=f"h{i}.test"))
    log.close()
    assert len(read_log(path, limit=100)) == 10


def test_wipe(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    log = DecisionLog(path)
    log.add(entry(1e9))
    log.flush_now()
    assert wipe_log(path) == 1
    assert read_log(path) == []
    assert wipe_log(tmp_path / "missing.sqlite3") == 0


def test_strip_query_and_foreign_schema(tmp_path: Path) -> None:
    assert strip_query("http://t.test/p?uid=1#x") == "http://t.test/p"
    path = tmp_path / "log.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
        conn.execute("CREATE TABLE decisions (x)")
    conn2 = connect(path)  # another version's log: started afresh, not a crash
    conn2.close()
    assert read_log(path) == []


def test_many_processes_can_open_a_new_log_at_once(tmp_path: Path) -> None:
    """`proxy --workers N`: N writers set up the same fresh database concurrently."""
    import multiprocessing

    path = tmp_path / "log.sqlite3"
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        results = pool.map(_open_and_write, [path] * 8)
    assert results == [True] * 8
    log = DecisionLog(path)
    log.flush_now()
    assert len(read_log(path, limit=100)) == 8


def _open_and_write(path: Path) -> bool:
    log = DecisionLog(path)
    log.add(LogEntry(time.time(), "http", "allow", "no-match", "image", "", "cdn.example"))
    log.flush_now()
    return True


def test_echo_sees_every_decision_as_it_is_added(tmp_path: Path) -> None:
    """`proxy -v`: one call per decision, before any coalescing into rows."""
    seen: list[LogEntry] = []
    log = DecisionLog(tmp_path / "log.sqlite3")
    log.echo = seen.append
    for _ in range(3):
        log.add(entry(time.time(), "block", "t.test", rule="-d t.test", list="l", line=2))
    log.flush_now()
    assert [(e.action, e.host, e.rule, e.line) for e in seen] == [
        ("block", "t.test", "-d t.test", 2)
    ] * 3
    assert sum(e.count for e in read_log(tmp_path / "log.sqlite3")) == 3


def test_echo_only_writes_nothing(tmp_path: Path) -> None:
    seen: list[LogEntry] = []
    log = EchoOnly(seen.append)
    log.start()
    log.add_fields(1.0, "http", "allow", "no-match", "image", "s.test", "cdn.test")
    log.close()
    assert [e.host for e in seen] == ["cdn.test"]
    assert list(tmp_path.iterdir()) == []


def test_read_new_follows_from_now(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    log = DecisionLog(path)
    log.add(entry(time.time(), host="old.test"))
    log.flush_now()
    last, rows = read_new(path)
    assert rows == []  # where following starts: nothing replayed
    log.add(entry(time.time(), host="new.test"))
    log.flush_now()
    last, rows = read_new(path, last)
    assert [r.host for r in rows] == ["new.test"]
    assert read_new(path, last) == (last, [])


def _raw(path: Path) -> bytes:
    files = [Path(str(path) + suffix) for suffix in ("", "-wal", "-shm")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def test_purged_and_wiped_urls_are_gone_from_the_raw_files(tmp_path: Path) -> None:
    """Retention and wipe leave no blocked URL in the file, its WAL or its free pages."""
    path = tmp_path / "log.sqlite3"
    now = 10 * DAY
    log = DecisionLog(path, retention_days=7, clock=lambda: now)
    for i in range(1500):
        log.add(entry(now - 8 * DAY + i, "block", "old.test", url=f"http://old.test/OLD-URL/{i}"))
        log.add(entry(now - DAY + i, "block", "new.test", url=f"http://new.test/NEW-URL/{i}"))
    log.flush_now()
    with closing(connect(path)) as writer:  # a running proxy keeps its writer open
        assert b"OLD-URL" in _raw(path)
        DecisionLog(path, retention_days=7, clock=lambda: now)  # start-up purge
        assert writer.execute("PRAGMA freelist_count").fetchone()[0] > 0
        raw = _raw(path)
        assert b"OLD-URL" not in raw and b"NEW-URL" in raw
        assert wipe_log(path) == 1500
        assert b"NEW-URL" not in _raw(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
