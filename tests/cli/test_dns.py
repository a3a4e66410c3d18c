"""CLI: `trackguard dns` as a real process, queried by dig, changed by other commands."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dnsserver"))
from dns_helpers import LIST_TEXT, Dnsmasq, dig

TRACKGUARD = str(Path(sys.executable).with_name("trackguard"))


@pytest.fixture
def upstream(tmp_path_factory: pytest.TempPathFactory) -> object:
    server = Dnsmasq(tmp_path_factory.mktemp("dnsmasq"))
    server.start()
    yield server
    server.stop()


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACKGUARD_HOME": str(home)}
    return subprocess.run([TRACKGUARD, *args], capture_output=True, text=True, env=env, timeout=60)


def test_dns_command_blocks_uncloaks_and_follows_overrides(
    upstream: Dnsmasq, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    lst = tmp_path / "trackers.tpl"
    lst.write_text(LIST_TEXT)
    env = {**os.environ, "TRACKGUARD_HOME": str(home)}
    proc = subprocess.Popen(
        [TRACKGUARD, "dns", "--listen", "127.0.0.1:0", "--upstream", upstream.address,
         "--list", str(lst)],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        server = f"127.0.0.1:{match.group(1)}"
        assert dig(server, "news.test", "+short").split() == ["127.0.0.2"]
        assert dig(server, "tracker.test", "+short").split() == ["0.0.0.0"]
        assert dig(server, "metrics.news.test", "+short").split() == ["0.0.0.0"]
        assert upstream.queries("tracker.test") == 0
        # A per-host allow from another process reaches the running server.
        assert _cli(home, "allow", "tracker.test").returncode == 0
        deadline = time.monotonic() + 20
        while dig(server, "tracker.test", "+short").split() != ["127.0.0.6"]:
            assert time.monotonic() < deadline, "allow did not reach the running DNS server"
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0
    rows = [json.loads(line) for line in _cli(home, "log", "--json").stdout.splitlines()]
    blocked = {(r["kind"], r["action"], r["host"]) for r in rows}
    assert ("dns", "block", "tracker.test") in blocked
    assert ("dns", "block", "metrics.news.test") in blocked
    assert not any(r["host"] == "news.test" for r in rows)


def test_dns_command_refuses_bad_addresses(tmp_path: Path) -> None:
    bad = _cli(tmp_path, "dns", "--upstream", "resolver.example")
    assert bad.returncode == 2 and "not an IP address" in bad.stderr
    loop = _cli(tmp_path, "dns", "--listen", "127.0.0.1:5399", "--upstream", "127.0.0.1:5399")
    assert loop.returncode == 2 and "own address" in loop.stderr
