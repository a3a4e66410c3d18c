"""TLS interception launcher (mitmproxy is an optional extra, run in a child process)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from proxy_helpers import self_signed_cert

from trackguard.proxy.intercept import (
    DEFAULT_PASSTHROUGH,
    InterceptUnavailable,
    build_command,
    passthrough_pattern,
    run_intercept,
)


def test_passthrough_pattern_matches_hosts_and_subdomains_only() -> None:
    pattern = re.compile(passthrough_pattern(["bank.example", "pinned.test"]))  # noqa: TID251 (our own pattern)
    assert pattern.match("bank.example:443")
    assert pattern.match("www.bank.example:443")
    assert not pattern.match("notbank.example:443")
    assert not pattern.match("bank.example.evil.test:443")
    assert re.match(passthrough_pattern([]), "") is not None


def test_build_command_runs_the_addon(tmp_path: Path) -> None:
    cmd = build_command("127.0.0.1", 8118, tmp_path, DEFAULT_PASSTHROUGH)
    assert cmd[2] == "from mitmproxy.tools.main import mitmdump; mitmdump()"
    assert cmd[cmd.index("--listen-port") + 1] == "8118"
    addon = Path(cmd[cmd.index("-s") + 1])
    assert addon.name == "mitm_addon.py" and addon.exists()
    assert f"confdir={tmp_path / 'mitmproxy'}" in cmd


@pytest.mark.skipif(importlib.util.find_spec("mitmproxy") is not None, reason="mitmproxy installed")
def test_missing_mitmproxy_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRACKGUARD_MITM_PYTHON", raising=False)
    monkeypatch.setattr("trackguard.proxy.intercept.side_env_python", lambda: None)
    with pytest.raises(InterceptUnavailable, match=r"trackguard\[intercept\]") as error:
        run_intercept(host="127.0.0.1", port=0, home=tmp_path)
    assert "TRACKGUARD_MITM_PYTHON" in str(error.value)


@pytest.mark.skipif(importlib.util.find_spec("mitmproxy") is not None, reason="mitmproxy installed")
def test_another_python_runs_mitmdump_when_this_one_lacks_mitmproxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trackguard.proxy.intercept import mitm_python

    monkeypatch.setenv("TRACKGUARD_MITM_PYTHON", "/opt/py312/bin/python")
    assert mitm_python() == "/opt/py312/bin/python"
    cmd = build_command("127.0.0.1", 8118, tmp_path, (), python="/opt/py312/bin/python")
    assert cmd[0] == "/opt/py312/bin/python"


def _mitm_python() -> str | None:
    """A Python with both trackguard and mitmproxy (the proxy's own lookup)."""
    from trackguard.proxy.intercept import mitm_python

    return mitm_python()


def test_side_environment_is_found_and_explicit_choice_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trackguard.proxy import intercept

    monkeypatch.setenv("TRACKGUARD_MITM_PYTHON", "/opt/py313/bin/python")
    assert intercept.mitm_python() == "/opt/py313/bin/python"
    monkeypatch.delenv("TRACKGUARD_MITM_PYTHON")
    side = intercept.side_env_python()
    if importlib.util.find_spec("mitmproxy") is None and side is not None:
        assert intercept.mitm_python() == str(side)
        assert side.parent.parent.name == ".venv-mitm"


def test_trust_steps_cover_systems_and_browsers(tmp_path: Path) -> None:
    from trackguard.proxy.intercept import ca_certificate, trust_steps

    cert = ca_certificate(tmp_path)
    steps = dict(trust_steps(cert))
    assert cert == tmp_path / "mitmproxy" / "mitmproxy-ca-cert.pem"
    assert any("Firefox" in where for where in steps)
    assert any("Windows" in where for where in steps)
    assert any("macOS" in where for where in steps)
    assert all(str(cert.parent) in how for how in steps.values())


@pytest.mark.skipif(
    _mitm_python() is None, reason="mitmproxy not installed (trackguard[intercept])"
)
def test_intercept_end_to_end(tmp_path: Path) -> None:
    """HTTPS decrypted by mitmproxy: Sec-GPC reaches the origin, the tracker is blocked."""
    import asyncio
    import os
    import signal
    import socket
    import ssl
    import subprocess
    import threading
    import time

    import httpx

    cert, key = self_signed_cert(tmp_path, "127.0.0.1", "IP:127.0.0.1")
    seen: list[bytes] = []
    loop = asyncio.new_event_loop()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx))
    origin_port = server.sockets[0].getsockname()[1]
    threading.Thread(target=loop.run_forever, daemon=True).start()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listed = tmp_path / "mine.tpl"
    listed.write_text("msFilterList\n-d tracker.test\n")
    home = tmp_path / "home"
    home.mkdir()
    python = _mitm_python()
    assert python is not None
    proc = subprocess.Popen(
        [
            python,
            "-m",
            "trackguard",
            "proxy",
            "--intercept",
            "--port",
            str(port),
            "--list",
            str(listed),
            "--gpc",
            "--mitm-option",
            "ssl_insecure=true",
        ],
        env={**os.environ, "TRACKGUARD_HOME": str(home)},
        stderr=subprocess.DEVNULL,
    )
    try:
        ca = home / "mitmproxy" / "mitmproxy-ca-cert.pem"
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                if ca.exists():
                    break
            except OSError:
                pass
            time.sleep(0.1)
        verify = ssl.create_default_context(cafile=str(ca))
        with httpx.Client(
            proxy=f"http://127.0.0.1:{port}", verify=verify, trust_env=False, timeout=20
        ) as c:
            ok = c.get(f"https://127.0.0.1:{origin_port}/page?id=1")
            blocked = c.get(
                "https://tracker.test/t.js",
                headers={
                    "Sec-Fetch-Site": "cross-site",
                    "Sec-Fetch-Mode": "no-cors",
                    "Sec-Fetch-Dest": "script",
                },
            )
        assert ok.status_code == 200 and ok.text == "ok"
        assert b"sec-gpc: 1" in seen[0].lower()
        assert blocked.headers["x-trackguard-blocked"] == "-d tracker.test (mine.tpl:2)"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        loop.call_soon_threadsafe(loop.stop)
