"""The pure update decisions: Expires, schedule, back-off, status, validation (TPL §A.4, §A.9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trackguard.model import Format
from trackguard.subscriptions.state import BUILTIN_ID, BUILTIN_URL, Subscription
from trackguard.subscriptions.update import (
    DEFAULT_INTERVAL,
    ListError,
    Status,
    clamp_interval,
    decode_list,
    due_at,
    hold_back_reason,
    interval_of,
    is_due,
    jitter,
    parse_expires,
    retry_delay,
    status_of,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def sub(**changes: object) -> Subscription:
    base = Subscription(
        id="feed",
        name="Feed",
        url="https://lists.example/feed.txt",
        format=Format.ABP,
        added=T0,
        interval=4 * 86400,
        last_success=T0,
        last_attempt=T0,
    )
    return base.replace(**changes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4 days", 4 * DAY),
        ("4 days (update frequency)", 4 * DAY),
        ("1 day", DAY),
        ("12 hours", timedelta(hours=12)),
        ("1 hour", timedelta(hours=1)),
        ("2d", 2 * DAY),
        ("36h", timedelta(hours=36)),
        ("5", 5 * DAY),  # a bare number is days, as in Adblock Plus
        ("  3 Days ", 3 * DAY),
        ("1 week", 7 * DAY),
        ("0 days", timedelta(0)),
        ("soon", None),
        ("", None),
        ("4 fortnights", None),
        ("-", None),
    ],
)
def test_parse_expires(text: str, expected: timedelta | None) -> None:
    assert parse_expires(text) == expected


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (timedelta(days=45), timedelta(days=30)),  # §A.4: at most 30
        (timedelta(0), DAY),  # §A.4: N <= 0 becomes 1 day
        (timedelta(days=-3), DAY),
        (timedelta(minutes=5), timedelta(hours=1)),  # never hammer the publisher
        (timedelta(hours=12), timedelta(hours=12)),
        (timedelta(days=4), timedelta(days=4)),
    ],
)
def test_clamp_interval(interval: timedelta, expected: timedelta) -> None:
    assert clamp_interval(interval) == expected


def test_interval_of_tpl_and_abp_metadata() -> None:
    assert interval_of(Format.TPL, {"expires_days": "3"}) == (3 * DAY, "Expires=3")
    assert interval_of(Format.TPL, {"expires_days": "99"})[0] == timedelta(days=30)
    assert interval_of(Format.ABP, {"expires": "12 hours"}) == (
        timedelta(hours=12),
        "Expires: 12 hours",
    )
    interval, note = interval_of(Format.ABP, {"expires": "whenever"})
    assert interval == DEFAULT_INTERVAL and "unreadable" in note
    assert interval_of(Format.HOSTS, {}) == (DEFAULT_INTERVAL, "default")


def test_jitter_is_bounded_and_reproducible() -> None:
    values = [jitter(f"key-{i}") for i in range(500)]
    assert all(-0.1 <= v <= 0.1 for v in values)
    assert min(values) < -0.08 and max(values) > 0.08  # actually spreads
    assert jitter("same") == jitter("same")


def test_retry_delay_doubles_from_one_hour_to_a_day() -> None:
    hours = [retry_delay(n) / timedelta(hours=1) for n in range(0, 8)]
    assert hours == [0, 1, 2, 4, 8, 16, 24, 24]
    assert retry_delay(10_000) == timedelta(hours=24)


def test_due_after_interval_with_jitter() -> None:
    s = sub()
    due = due_at(s)
    assert due is not None
    assert T0 + 4 * DAY * 0.9 <= due <= T0 + 4 * DAY * 1.1
    assert not is_due(s, T0 + 3 * DAY)
    assert is_due(s, T0 + 5 * DAY)


def test_due_after_failure_follows_back_off() -> None:
    s = sub(failures=3, last_attempt=T0 + DAY)
    assert due_at(s) == T0 + DAY + timedelta(hours=4)


def test_builtin_and_disabled_lists_are_never_due() -> None:
    assert due_at(sub(enabled=False)) is None
    assert due_at(sub(id=BUILTIN_ID, url=BUILTIN_URL)) is None


@pytest.mark.parametrize(
    ("changes", "now", "expected"),
    [
        ({}, T0 + DAY, Status.OK),
        ({"failures": 1, "last_error": "HTTP 404"}, T0 + DAY, Status.FAILING),
        ({}, T0 + 9 * DAY, Status.STALE),  # older than twice the 4-day interval
        ({"failures": 5}, T0 + 9 * DAY, Status.STALE),
        ({"last_success": None}, T0, Status.STALE),
        ({"id": BUILTIN_ID, "last_success": None}, T0 + 365 * DAY, Status.OK),
    ],
)
def test_status(changes: dict[str, object], now: datetime, expected: Status) -> None:
    assert status_of(sub(**changes), now) is expected


def test_decode_list_accepts_utf8_and_strips_bom() -> None:
    assert decode_list("\ufeffmsFilterList\n-d a.example\n".encode()) == (
        "msFilterList\n-d a.example\n"
    )
    assert decode_list("! Title: Café\n||x.example^\n".encode()).startswith("! Title: Café")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("! Title: Café\n||x.example^\n".encode("latin-1"), "list.not-utf8"),
        (b"  <!DOCTYPE html>\n<html><body>Login</body></html>", "list.html"),
        (b"<HTML><HEAD></HEAD></HTML>", "list.html"),
        (b" \n\n", "list.empty"),
    ],
)
def test_decode_list_refuses(body: bytes, code: str) -> None:
    with pytest.raises(ListError) as caught:
        decode_list(body)
    assert caught.value.code == code


def test_hold_back_when_more_than_half_the_rules_are_lost() -> None:
    assert hold_back_reason("feed", 1000, 500) is None  # exactly half kept: fine
    assert hold_back_reason("feed", 1000, 2000) is None
    reason = hold_back_reason("feed", 1000, 499)
    assert reason is not None
    assert "499" in reason and "1000" in reason and "lists update feed --force" in reason
    assert hold_back_reason("feed", 0, 0) is None
