"""Subscription records and their JSON form."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from trackguard.model import Diagnostic, Format, ParsedList, Severity
from trackguard.subscriptions.state import (
    STATE_VERSION,
    ListStats,
    State,
    StateError,
    Subscription,
    state_from_dict,
    state_to_dict,
    stats_of,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def record(list_id: str = "feed", **changes: object) -> Subscription:
    return Subscription(
        id=list_id,
        name=list_id.title(),
        url=f"https://lists.example/{list_id}.txt",
        format=Format.ABP,
        added=T0,
    ).replace(**changes)


def test_round_trip_keeps_every_field() -> None:
    full = record(
        enabled=False,
        title="Feed list",
        homepage="https://lists.example/",
        file="feed-0123456789abcdef.txt",
        sha256="ab" * 32,
        size=1234,
        stats=ListStats(
            rules=10,
            skipped=(("cosmetic", 3),),
            errors=2,
            warnings=1,
            notices=0,
            codes=(("abp.bad", 2),),
            samples=("feed:3: error: bad [abp.bad]",),
        ),
        interval=86400,
        interval_source="Expires: 1 day",
        etag='"v1"',
        last_modified="Wed, 01 Jan 2025 00:00:00 GMT",
        final_url="https://cdn.lists.example/feed.txt",
        last_success=T0,
        last_changed=T0,
        last_attempt=T0,
        failures=2,
        last_error="HTTP 500",
        last_error_code="fetch.http-500",
        held_back_rules=3,
    )
    state = State((full, record("other")))
    again = state_from_dict(json.loads(json.dumps(state_to_dict(state))))
    assert again == state


def test_find_by_id_name_or_url() -> None:
    state = State((record("feed", name="My Feed"), record("other")))
    assert state.find("feed") is state.subscriptions[0]
    assert state.find("FEED") is state.subscriptions[0]
    assert state.find("my feed") is state.subscriptions[0]
    assert state.find("https://lists.example/other.txt") is state.subscriptions[1]
    assert state.find("nothing") is None


def test_put_replaces_in_place_and_appends() -> None:
    state = State((record("a"), record("b")))
    state = state.put(record("a", enabled=False)).put(record("c"))
    assert [s.id for s in state.subscriptions] == ["a", "b", "c"]
    assert state.get("a") is not None and not state.get("a").enabled  # type: ignore[union-attr]
    assert [s.id for s in state.without("b").subscriptions] == ["a", "c"]
    assert [s.id for s in state.enabled] == ["b", "c"]


def test_newer_layout_is_refused() -> None:
    with pytest.raises(StateError, match="newer trackguard"):
        state_from_dict({"version": STATE_VERSION + 1, "subscriptions": []})


@pytest.mark.parametrize("data", [[], {"version": 1}, {"version": 1, "subscriptions": [{}]}])
def test_damaged_files_are_refused(data: object) -> None:
    with pytest.raises(StateError):
        state_from_dict(data)


def test_stats_of_counts_rules_skipped_and_diagnostics() -> None:
    def diag(line: int, severity: Severity, code: str) -> Diagnostic:
        return Diagnostic("x", line, severity, code, "m")

    parsed = ParsedList(
        list_id="x",
        format=Format.ABP,
        rules=(),
        diagnostics=(
            diag(9, Severity.NOTICE, "n"),
            diag(5, Severity.ERROR, "e"),
            diag(2, Severity.ERROR, "e"),
            diag(7, Severity.WARNING, "w"),
        ),
        skipped={"cosmetic": 4, "comment": 100, "scriptlet": 1},
    )
    stats = stats_of(parsed)
    assert (stats.errors, stats.warnings, stats.notices) == (2, 1, 1)
    assert stats.codes[0] == ("e", 2)
    assert stats.samples[0].startswith("x:2: error")  # worst first, then by line
    assert stats.skipped_total == 4 + 1 + 2  # comments are not skipped rules
