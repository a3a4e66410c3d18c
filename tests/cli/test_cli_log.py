"""`trackguard log` (table, JSON, `--follow`), `stats` and `wipe` on a real decision log.

Issue 11: point 4 (a live view: `log --follow`, one line per decision) and point 9
(the table reads at 80 columns: the host is never cut, the rule folds).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from cli_helpers import env_for, tg, widest

from trackguard.proxy.log import DecisionLog, LogEntry

LONG_RULE = "||very-long-tracker-name.example^$third-party,script,domain=news.example|shop.example"


def _fill(home: Path) -> None:
    log = DecisionLog(home / "proxy-log.sqlite3")
    now = time.time()
    log.add(
        LogEntry(
            now,
            "http",
            "block",
            "list-block",
            "script",
            "news.example",
            "metrics.very-long-tracker-name.example",
            LONG_RULE,
            "easyprivacy",
            12345,
            "http://tracker.example/t.js",
        )
    )
    log.add(LogEntry(now, "http", "allow", "no-match", "image", "site.example", "cdn.example"))
    log.add(LogEntry(now, "tunnel", "allow", "no-match", "tunnel", "", "secure.example"))
    log.flush_now()
    log.close()


def test_log_stats_wipe(tmp_path: Path) -> None:
    _fill(tmp_path)
    rows = [
        json.loads(line) for line in tg(tmp_path, "log", "--blocked", "--json").stdout.splitlines()
    ]
    assert len(rows) == 1 and rows[0]["rule"] == LONG_RULE and rows[0]["line"] == 12345
    stats = json.loads(tg(tmp_path, "stats", "--json").stdout)
    assert stats["total"] == 3 and stats["by_action"] == {"allow": 2, "block": 1}
    assert stats["tunnels_without_signals"] == 1
    text = tg(tmp_path, "stats").stdout
    assert "blocked: 1 (33.3%)" in text and "very-long-tracker-name" in text
    assert "erased (3 rows)" in tg(tmp_path, "wipe", "--yes").stdout
    assert json.loads(tg(tmp_path, "stats", "--json").stdout)["total"] == 0


def test_log_table_reads_at_80_columns(tmp_path: Path) -> None:
    _fill(tmp_path)
    done = tg(tmp_path, "log", columns=80)
    assert done.returncode == 0
    assert widest(done.stdout) <= 80
    # the key columns are whole on one line; the long rule folds but keeps its place
    assert "metrics.very-long-tracker-name.example" in done.stdout
    assert "(easyprivacy:12345)" in done.stdout.replace("\n", "").replace(" ", "")
    header = done.stdout.splitlines()[0].split()
    assert header == ["time", "action", "host,", "site,", "rule", "(list:line)"]
    assert "metrics.very-long-tracker-name.example (on news.example)" in done.stdout
    wide = tg(tmp_path, "log", columns=200)
    assert "type" in wide.stdout.splitlines()[0] and LONG_RULE in wide.stdout


def test_log_without_file(tmp_path: Path) -> None:
    done = tg(tmp_path, "log")
    assert done.returncode == 0 and "no decisions" in done.stderr


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The follower's stdout lines, read by a thread so a test waits with a timeout."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_log_follow_prints_new_decisions_as_they_come(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackguard", "log", "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(tmp_path),
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("following ")  # it follows from now on
        _fill(tmp_path)
        lines = _lines(proc)
        got = [json.loads(lines.get(timeout=60)) for _ in range(3)]
        assert [g["host"] for g in got] == [
            "metrics.very-long-tracker-name.example",
            "cdn.example",
            "secure.example",
        ]
        assert got[0]["rule"] == LONG_RULE and got[0]["list"] == "easyprivacy"
    finally:
        proc.terminate()
        proc.wait(10)


def test_log_follow_human_lines(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackguard", "log", "-f", "--blocked"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(tmp_path),
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("following ")
        _fill(tmp_path)
        line = _lines(proc).get(timeout=60).rstrip("\n")
        # time, site, action, host, rule (list:line): one line per decision
        assert line.split(" ", 1)[1] == (
            f"news.example BLOCK metrics.very-long-tracker-name.example {LONG_RULE} "
            "(easyprivacy:12345)"
        )
    finally:
        proc.terminate()
        proc.wait(10)
