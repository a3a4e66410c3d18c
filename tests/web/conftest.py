"""The dashboard tests use the proxy tests' loopback helpers (`tests/proxy/proxy_helpers.py`)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proxy"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "learn"))
