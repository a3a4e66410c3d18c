"""Policy tests share the proxy tests' fake engine (`tests/proxy/proxy_helpers.py`)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proxy"))
