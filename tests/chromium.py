"""Headless Debian Chromium for the browser tests: where it is and how it starts.

One set of switches for every browser test, so that a new Chromium release that needs
another switch (or drops one) is a change in one place. The switches keep Chromium from
talking to anything but the servers a test starts: no background networking, component
updates, sync or QUIC, and (through a proxy) no name resolution of its own.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")

QUIET = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def through_proxy(port: int, *extra: str, resolve_names: bool = False) -> list[str]:
    """Switches for Chromium whose every request goes through the proxy on `port`.

    Without `resolve_names`, Chromium resolves no host itself (the proxy does), except
    127.0.0.1, so a request that escaped the proxy fails instead of leaving the machine.
    """
    args = [*QUIET, f"--proxy-server=http://127.0.0.1:{port}", "--proxy-bypass-list=<-loopback>"]
    if not resolve_names:
        args.append("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    return [*args, *extra]


def spki_hash(pem: Path) -> str:
    """Chromium's `--ignore-certificate-errors-spki-list` form of a certificate's key
    (trusting one test certificate or CA without touching the system's store)."""
    key = subprocess.run(
        ["openssl", "x509", "-in", str(pem), "-noout", "-pubkey"], check=True, capture_output=True
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"], input=key, check=True, capture_output=True
    ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()
