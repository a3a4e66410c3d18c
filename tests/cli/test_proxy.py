"""CLI: proxy (as a real process), log, stats, wipe, site, allow, block."""

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

import pytest
from click.testing import CliRunner

from trackguard.cli import main
from trackguard.proxy.log import DecisionLog, LogEntry
from trackguard.settings import load_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRACKGUARD_HOME", str(tmp_path))
    return tmp_path


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_site_switch(home: Path) -> None:
    assert "protection off on example.com" in run("site", "off", "https://www.Example.com/x")
    run("site", "off", "news.example.co.uk")
    assert load_settings(home).exempt_sites == ("example.com", "example.co.uk")
    assert run("site", "list").split() == ["example.com", "example.co.uk"]
    run("site", "on", "example.com")
    assert load_settings(home).exempt_sites == ("example.co.uk",)


def test_allow_and_block_overrides(home: Path) -> None:
    run("block", "tracker.example")
    run("allow", "cdn.example", "Tracker.Example")
    settings = load_settings(home)
    assert settings.user_allow == ("cdn.example", "tracker.example")
    assert settings.user_block == ()  # allowing removed the opposite override
    assert run("allow").split() == ["cdn.example", "tracker.example"]
    run("allow", "--remove", "cdn.example")
    assert load_settings(home).user_allow == ("tracker.example",)
    bad = CliRunner().invoke(main, ["allow", "a/b"])
    assert bad.exit_code != 0


def test_log_stats_wipe(home: Path) -> None:
    log = DecisionLog(home / "proxy-log.sqlite3")
    now = time.time()
    log.add(
        LogEntry(
            now,
            "http",
            "block",
            "list-block",
            "script",
            "site.example",
            "tracker.example",
            "-d tracker.example",
            "l.tpl",
            4,
            "http://tracker.example/t.js",
        )
    )
    log.add(LogEntry(now, "http", "allow", "no-match", "image", "site.example", "cdn.example"))
    log.add(LogEntry(now, "tunnel", "allow", "no-match", "tunnel", "", "secure.example"))
    log.flush_now()
    out = run("log", "--blocked", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1 and rows[0]["rule"] == "-d tracker.example" and rows[0]["line"] == 4
    table = run("log")
    assert "tracker.example" in table and "cdn.example" in table
    stats = json.loads(run("stats", "--json"))
    assert stats["total"] == 3 and stats["by_action"] == {"allow": 2, "block": 1}
    assert stats["tunnels_without_signals"] == 1
    text = run("stats")
    assert "blocked: 1 (33.3%)" in text and "tracker.example" in text
    assert "erased (3 rows)" in run("wipe", "--yes")
    assert json.loads(run("stats", "--json"))["total"] == 0


def test_log_without_file(home: Path) -> None:
    result = CliRunner().invoke(main, ["log"])
    assert result.exit_code == 0 and "no decisions" in result.output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_proxy_command_runs_serves_pac_and_stops_on_sigterm(
    home: Path, tmp_path: Path, workers: str
) -> None:
    listed = tmp_path / "mine.tpl"
    listed.write_text("msFilterList\n-d tracker.example\n")
    env = {**os.environ, "TRACKGUARD_HOME": str(home)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trackguard",
            "proxy",
            "--port",
            "0",
            "--list",
            str(listed),
            "--gpc",
            "--workers",
            workers,
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/ ", banner)
        assert match, banner
        assert "GPC on" in banner
        port = int(match[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and f"PROXY 127.0.0.1:{port}".encode() in data
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"CONNECT tracker.example:443 HTTP/1.1\r\n\r\n")
            refused = s.recv(4096)
        assert refused.startswith(b"HTTP/1.1 403") and b"mine.tpl" in refused
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    except BaseException:
        _explain(proc)
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (home / "proxy-log.sqlite3").exists()


def _explain(proc: subprocess.Popen[str]) -> None:
    """On failure, show what the proxy said (its stderr) in the test output."""
    if proc.poll() is None:
        proc.kill()
    if proc.stderr is not None:
        print("proxy exit", proc.wait(5), "stderr:", proc.stderr.read()[-4000:])


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and prctl")
def test_proxy_workers_stop_when_their_supervisor_is_killed(home: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackguard", "proxy", "--port", "0", "--workers", "2"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TRACKGUARD_HOME": str(home)},
    )
    workers: list[int] = []
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        assert "2 workers" in banner, banner
        for _ in range(200):
            workers = _children(proc.pid)
            if len(workers) == 2:
                break
            time.sleep(0.05)
        assert len(workers) == 2
        proc.kill()  # SIGKILL: no chance to stop the workers itself
        proc.wait(10)
        end = time.monotonic() + 15
        while time.monotonic() < end and any(Path(f"/proc/{w}").exists() for w in workers):
            time.sleep(0.1)
        alive = [w for w in workers if Path(f"/proc/{w}").exists()]
        assert alive == []
    except BaseException:
        _explain(proc)
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
        for worker in workers:
            if Path(f"/proc/{worker}").exists():
                os.kill(worker, signal.SIGKILL)


def test_state_folder_is_private_from_the_first_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9 defect 7: `allow` as the first command created the folder 0755; files
    left readable by an older version are narrowed on the next start."""
    import stat

    home = tmp_path / "fresh" / "home"
    monkeypatch.setenv("TRACKGUARD_HOME", str(home))
    old = os.umask(0o022)
    try:
        run("allow", "example.com")
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE((home / "settings.json").stat().st_mode) == 0o600
        leftover = home / "subscriptions.json"
        leftover.write_text("{}")
        leftover.chmod(0o644)
        home.chmod(0o755)
        run("site", "list")
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE(leftover.stat().st_mode) == 0o600
    finally:
        os.umask(old)
