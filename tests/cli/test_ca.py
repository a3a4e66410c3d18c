"""CLI: `trackguard ca` (where the interception CA is, how to trust it), as a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from trackguard.proxy.intercept import mitm_python


@pytest.mark.skipif(mitm_python() is None, reason="mitmproxy not installed (bash scripts/setup)")
def test_ca_command_creates_the_ca_privately(tmp_path: Path) -> None:
    import json
    import os
    import stat
    import subprocess
    import sys

    home = tmp_path / "home"
    env = {**os.environ, "TRACKGUARD_HOME": str(home)}
    cmd = [sys.executable, "-m", "trackguard", "ca"]
    missing = subprocess.run([*cmd, "--no-create", "--json"], env=env, capture_output=True)
    assert missing.returncode == 3 and json.loads(missing.stdout)["exists"] is False
    made = subprocess.run([*cmd, "--json"], env=env, capture_output=True, timeout=120)
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    cert = Path(report["certificate"])
    assert report["exists"] and cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE((home / "mitmproxy" / "mitmproxy-ca.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "mitmproxy").stat().st_mode) == 0o700
    text = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    assert f"CA certificate: {cert}" in text and "Firefox" in text
