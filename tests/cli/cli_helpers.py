"""Run the real `trackguard` command in a subprocess with its own state folder.

Shared by the CLI tests of issue 11: every point is proven the way a user meets it, with
a real `TRACKGUARD_HOME`, at 80 columns, reading stdout, stderr and the exit status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def env_for(home: Path, columns: int = 80) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(TRACKGUARD_HOME=str(home), COLUMNS=str(columns), NO_PROXY="127.0.0.1")
    return env


def tg(
    home: Path, *args: str | Path, stdin: str | None = None, columns: int = 80
) -> subprocess.CompletedProcess[str]:
    """`trackguard ARGS` with TRACKGUARD_HOME=home; never raises on a non-zero status."""
    return subprocess.run(
        [sys.executable, "-m", "trackguard", *map(str, args)],
        env=env_for(home, columns),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)
