"""Who may use the dashboard: Host, Origin, CSRF token, fetch metadata."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from trackguard.web.guard import Guard, csrf_token, load_secret

PORT = 8118
GOOD = {"host": f"127.0.0.1:{PORT}"}


@pytest.fixture
def guard(tmp_path: Path) -> Guard:
    return Guard(load_secret(tmp_path), [PORT])


def test_secret_is_private_stable_and_never_the_token(tmp_path: Path) -> None:
    secret = load_secret(tmp_path)
    assert load_secret(tmp_path) == secret and len(secret) >= 32
    assert stat.S_IMODE((tmp_path / "web-secret").stat().st_mode) == 0o600
    assert csrf_token(secret).encode() != secret and secret not in csrf_token(secret).encode()


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8118", "localhost:8118", "[::1]:8118", "LOCALHOST:8118"],
)
def test_own_addresses_may_read(guard: Guard, host: str) -> None:
    assert guard.check("GET", "/api/overview", {"host": host}) is None


@pytest.mark.parametrize(
    "host",
    ["", "evil.example", "evil.example:8118", "127.0.0.1:9999", "127.0.0.1", "rebind.test:8118"],
)
def test_foreign_host_is_refused_even_for_reads(guard: Guard, host: str) -> None:
    refusal = guard.check("GET", "/api/overview", {"host": host})
    assert refusal is not None and refusal.status == 421


def _other(digit: str) -> str:
    return "1" if digit == "0" else "0"


def test_changes_need_own_origin_and_token(guard: Guard) -> None:
    origin = f"http://127.0.0.1:{PORT}"
    good = {**GOOD, "origin": origin, "x-trackguard-csrf": guard.token}
    assert guard.check("POST", "/api/action/allow", good) is None
    for bad in (
        {**GOOD, "x-trackguard-csrf": guard.token},  # no Origin
        {**GOOD, "origin": "null", "x-trackguard-csrf": guard.token},
        {**GOOD, "origin": "http://evil.example", "x-trackguard-csrf": guard.token},
        {**GOOD, "origin": f"http://localhost:{PORT}", "x-trackguard-csrf": guard.token},
        {**GOOD, "origin": origin},  # no token
        {**GOOD, "origin": origin, "x-trackguard-csrf": guard.token[:-1] + _other(guard.token[-1])},
    ):
        refusal = guard.check("POST", "/api/action/allow", bad)
        assert refusal is not None and refusal.status == 403, bad


def test_cross_site_fetches_refused_but_the_page_opens(guard: Guard) -> None:
    cross = {**GOOD, "sec-fetch-site": "cross-site"}
    refusal = guard.check("GET", "/api/log", cross)
    assert refusal is not None and refusal.status == 403
    assert guard.check("GET", "/", cross) is None  # a link to the dashboard still opens
    assert guard.check("GET", "/api/log", {**GOOD, "sec-fetch-site": "same-origin"}) is None
