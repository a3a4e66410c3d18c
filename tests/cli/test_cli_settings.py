"""`trackguard settings`, and what every command does with a broken `settings.json`.

Issue 11, points 1 and 2: a typo in the file once reset every setting and the next
command wrote the defaults back over it. Now the file is refused with file, line and
reason, left byte for byte as it was, and a running proxy keeps its last good settings.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from cli_helpers import env_for, tg, widest

PROXY = [sys.executable, "-m", "trackguard", "proxy", "--port", "0", "--workers", "1"]
TYPO = '{\n  "dnt": true,\n  "user_block": ["tracker.example"],\n  "gpc": tru\n}\n'


def test_a_typo_is_refused_with_file_line_and_reason_and_the_file_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(TYPO, encoding="utf-8")
    for args, status in [
        (["allow", "cdn.example"], 1),
        (["site", "off", "news.example"], 1),
        (["settings", "set", "gpc", "on"], 1),
        (["settings"], 1),
        (["lists"], 1),
        (["learn", "status"], 1),
        (["check", "https://tracker.example/"], 2),  # check: 2 is its error status
        (["proxy", "--port", "0", "--workers", "1"], 1),  # refuses to start on defaults
    ]:
        done = tg(tmp_path, *args)
        assert done.returncode == status, (args, done.stderr)
        assert f"{path}:4: not valid JSON" in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert path.read_text(encoding="utf-8") == TYPO  # untouched, never the defaults


def test_a_bad_value_or_unknown_key_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{\n  "dnt": true,\n  "log_retention_days": "week"\n}\n', encoding="utf-8")
    done = tg(tmp_path, "settings", "show")
    assert done.returncode == 1
    assert f"{path}:3: log_retention_days must be a whole number" in done.stderr
    path.write_text('{\n  "dtn": true\n}\n', encoding="utf-8")
    assert f"{path}:2: unknown setting 'dtn'" in tg(tmp_path, "settings").stderr


def test_settings_show_set_reset_typed_with_json(tmp_path: Path) -> None:
    shown = json.loads(tg(tmp_path, "settings", "--json").stdout)
    assert shown["dnt"] is False and shown["log_retention_days"] == 7
    table = tg(tmp_path, "settings", "show")
    assert table.returncode == 0 and widest(table.stdout) <= 80
    assert "log_retention_days" in table.stdout and "send DNT: 1" in table.stdout

    done = tg(tmp_path, "settings", "set", "dnt", "on", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {"setting": "dnt", "value": True}
    assert tg(tmp_path, "settings", "set", "log_retention_days", "30").stdout.strip() == (
        "log_retention_days = 30"
    )
    assert tg(tmp_path, "settings", "set", "protection", "off").returncode == 0
    before = (tmp_path / "settings.json").read_bytes()
    for key, value, message in [
        ("dnt", "maybe", "dnt must be on or off"),
        ("log_retention_days", "-3", "cannot be negative"),
        ("proxy_port", "99999", "0-65535"),
        ("allow_from", "not-a-net", "not a network"),
        ("dtn", "on", "unknown setting 'dtn'"),
    ]:
        bad = tg(tmp_path, "settings", "set", key, value)
        assert bad.returncode == 2 and message in bad.stderr, (key, bad.stderr)
    assert (tmp_path / "settings.json").read_bytes() == before  # refused: nothing written

    saved = json.loads((tmp_path / "settings.json").read_text(encoding="utf-8"))
    assert (saved["dnt"], saved["log_retention_days"], saved["protection"]) == (True, 30, False)
    assert json.loads(tg(tmp_path, "settings", "show", "dnt", "--json").stdout) is True
    assert "(default)" in tg(tmp_path, "settings", "reset", "dnt").stdout
    assert json.loads(tg(tmp_path, "settings", "--json").stdout)["dnt"] is False
    # protection off is what `check` then decides with
    off = tg(tmp_path, "check", "https://www.google-analytics.com/collect", "--json")
    assert off.returncode == 1 and json.loads(off.stdout)["layer"] == "protection-off"


def _connect(port: int, host: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        return s.recv(4096)


def _read_until(proc: subprocess.Popen[str], pattern: str, lines: list[str]) -> str:
    """Read the proxy's stderr until a line matches (the read blocks; the test has a timeout)."""
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"proxy ended without {pattern!r}: {''.join(lines)[-3000:]}")
        lines.append(line)
        if re.search(pattern, line):
            return line


def test_proxy_flags_override_one_run_v_shows_decisions_and_bad_edits_keep_good_settings(
    tmp_path: Path,
) -> None:
    """Points 1, 2 and 4 on one running proxy: `--no-dnt` beats the saved `dnt` for this
    run only; `-v` prints each decision; a typo in settings.json leaves it protecting."""
    assert tg(tmp_path, "settings", "set", "dnt", "on").returncode == 0
    assert tg(tmp_path, "block", "tracker.example").returncode == 0
    saved = (tmp_path / "settings.json").read_text(encoding="utf-8")
    env = env_for(tmp_path)
    proc = subprocess.Popen(
        [*PROXY, "--no-dnt", "-v"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    try:
        banner = _read_until(proc, r"trackguard proxy on", lines)
        assert "DNT off" in banner  # the flag, for this run
        port = int(re.search(r"127\.0\.0\.1:(\d+)/", banner)[1])  # type: ignore[index]
        assert _connect(port, "tracker.example").startswith(b"HTTP/1.1 403")
        live = _read_until(proc, r"tracker\.example", lines)
        assert re.fullmatch(r"\d\d:\d\d:\d\d - BLOCK tracker\.example user-block\n", live), live
        time.sleep(1.1)  # a new mtime for the settings watcher
        (tmp_path / "settings.json").write_text(saved.replace("true", "tru", 1), "utf-8")
        warning = _read_until(proc, r"keeping the last good settings", lines)
        assert "settings.json:" in warning and "not valid JSON" in warning
        assert _connect(port, "tracker.example").startswith(b"HTTP/1.1 403")  # still blocked
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert json.loads(saved)["dnt"] is True  # the saved choice itself was never changed
    assert os.path.exists(tmp_path / "proxy-log.sqlite3")
