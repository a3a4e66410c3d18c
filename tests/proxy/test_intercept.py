"""TLS interception launcher (mitmproxy is an optional extra, run in a child process)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

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
def test_missing_mitmproxy_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InterceptUnavailable, match=r"trackguard\[intercept\]"):
        run_intercept(host="127.0.0.1", port=0, home=tmp_path)
