"""CLI: `trackguard proxy` as a real process (log, overrides: test_log, test_overrides)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRACKGUARD_HOME", str(tmp_path))
    return tmp_path


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


def test_proxy_refuses_a_web_page_as_a_list(tmp_path: Path) -> None:
    """Issue 11 point 3: `proxy --list page.html` is refused like `lists add` refuses it."""
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html>\n<html><head><title>Lists</title></head>\n", "utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "trackguard", "proxy", "--port", "0", "--list", str(page)],
        env={**os.environ, "TRACKGUARD_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "page.html: this is a web page (HTML), not a list" in done.stderr
    assert "trackguard proxy on" not in done.stderr  # it never started
