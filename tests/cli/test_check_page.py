"""`trackguard check --source PAGE` with the user's own protection judges against the page.

Without `--list`, `check` decides as the proxy would (`policy.decide_for_page` over the
enabled subscriptions). A check that lost the page would report a listed site's own
resources as blocked and ignore `$domain=` rules, so these cases run the real entry
point in a private state folder. Mutations: tests/MUTATIONS.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest


@pytest.fixture(scope="module")
def tg(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("check-page")
    env = {**os.environ, "TRACKGUARD_HOME": str(folder / "home")}

    def run(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "trackguard", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode in (0, 1), done.stderr
        return json.loads(done.stdout) if "--json" in args else done.stdout

    mine = folder / "mine.txt"
    mine.write_text("[Adblock Plus 2.0]\n/ads.js$domain=site.test\n||metrics.test^$third-party\n")
    run("lists", "add", str(mine), "--name", "mine")
    return run


CASES = [
    # (url, page, blocked, rule)
    ("https://metrics.test/v1", "https://www.site.test/", True, "||metrics.test^$third-party"),
    ("https://api.metrics.test/v1", "https://metrics.test/", False, None),
    ("https://cdn.test/ads.js", "https://www.site.test/", True, "/ads.js$domain=site.test"),
    ("https://cdn.test/ads.js", "https://other.test/", False, None),
    # The built-in list: Google Analytics on its own site is first party.
    ("https://www.google-analytics.com/collect", "https://news.example/", True, None),
    ("https://www.google-analytics.com/collect", "https://www.google-analytics.com/", False, None),
]


@pytest.mark.parametrize(("url", "page", "blocked", "rule"), CASES)
def test_check_judges_against_the_page(
    tg: Any, url: str, page: str, blocked: bool, rule: str | None
) -> None:
    decision = tg("check", url, "--source", page, "--type", "script", "--json")
    assert decision["blocked"] is blocked, decision
    if rule is not None:
        assert decision["rule"] == rule
    if not blocked:
        assert decision["rule"] is None
