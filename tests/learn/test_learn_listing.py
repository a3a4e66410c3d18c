"""Listing, explanations and export/import of the personalized list (§B7, §B10)."""

from __future__ import annotations

import json

import pytest

from trackguard.learn.core import LearnContext, LearnState, TrackerRow
from trackguard.learn.keys import site_tagger
from trackguard.learn.listing import (
    UserChoices,
    export_json,
    export_tpl,
    listing,
    merge_import,
    parse_import,
)
from trackguard.learn.model import Kind, LearnConfig, Mode, Remedy, Source
from trackguard.lists.tpl import parse_tpl


def _state() -> LearnState:
    state = LearnState()
    state.trackers["blocked.example"] = TrackerRow(
        int(Kind.BEACON), 5, 10, 12, 0.0, 3, Remedy.BLOCK, 12
    )
    state.trackers["cdn.example"] = TrackerRow(
        int(Kind.COOKIE), 4, 10, 12, 1.0, 9, Remedy.STRIP, 12
    )
    state.trackers["cdn.jsdelivr.net/npm/fp.js"] = TrackerRow(
        int(Kind.FINGERPRINT), 3, 10, 12, 1.0, 3, Remedy.PATH, 12
    )
    state.evidence["young.example"] = {1: [int(Kind.COOKIE), 12]}
    state.trackers["young.example"] = TrackerRow(int(Kind.COOKIE), 1, 12, 12)
    return state


def _ctx(mode: Mode = Mode.AUTO) -> LearnContext:
    return LearnContext(config=LearnConfig(mode=mode), site_tag=site_tagger(b"k" * 32))


def test_items_and_layers() -> None:
    items = {i["domain"]: i for i in listing(_state(), _ctx(), UserChoices(), 13)}
    assert items["blocked.example"]["action"] == "block" and items["blocked.example"]["enforced"]
    assert items["blocked.example"]["layer"] == "learned"
    assert items["young.example"]["action"] is None and not items["young.example"]["enforced"]
    suggest = {i["domain"]: i for i in listing(_state(), _ctx(Mode.SUGGEST), UserChoices(), 13)}
    assert not suggest["blocked.example"]["enforced"]
    assert suggest["blocked.example"]["layer"] == "default-allow"
    choices = UserChoices(
        user_allow=frozenset({"blocked.example"}),
        list_layer=lambda d: "list-allow" if d == "cdn.example" else None,
    )
    over = {i["domain"]: i for i in listing(_state(), _ctx(), choices, 13)}
    assert (
        over["blocked.example"]["layer"] == "user-allow" and not over["blocked.example"]["enforced"]
    )
    assert over["cdn.example"]["layer"] == "list-allow" and not over["cdn.example"]["enforced"]
    # Accepting a block makes it your override (what `learn accept` does): enforced.
    accepted = UserChoices(
        user_block=frozenset({"blocked.example"}),
        verdicts={"blocked.example": ("accepted", "block")},
    )
    mine = {i["domain"]: i for i in listing(_state(), _ctx(Mode.SUGGEST), accepted, 13)}
    assert mine["blocked.example"]["layer"] == "user-block" and mine["blocked.example"]["enforced"]
    manual = UserChoices(user_block=frozenset({"blocked.example"}))
    typed = {i["domain"]: i for i in listing(_state(), _ctx(Mode.SUGGEST), manual, 13)}
    assert not typed["blocked.example"]["enforced"]  # your own rule, not this list's


def test_tpl_export_round_trips_through_the_parser() -> None:
    items = listing(_state(), _ctx(), UserChoices(), 13)
    text = export_tpl(items, 13)
    parsed = parse_tpl(text, "personalized")
    hosts = sorted((r.host, r.pattern) for r in parsed.rules)
    assert hosts == [("blocked.example", ""), ("cdn.jsdelivr.net", "/npm/fp.js")]
    assert "# strip (cookies removed, no TPL form): cdn.example" in text
    assert not [d for d in parsed.diagnostics if d.severity.value == "error"]


def test_json_export_and_import() -> None:
    items = listing(_state(), _ctx(), UserChoices(), 13)
    text = export_json(items)
    assert "site_tag" not in text and "young.example" not in text
    rows = parse_import(text, 20)
    assert set(rows) == {"blocked.example", "cdn.example", "cdn.jsdelivr.net/npm/fp.js"}
    assert all(r.source is Source.IMPORTED and r.first_day == 20 for r in rows.values())
    state = LearnState()
    assert merge_import(state, rows) == 3
    assert ("cdn.jsdelivr.net", "/npm/fp.js") in state.path_rules


@pytest.mark.parametrize(
    "text",
    ["[]", '{"format": "x"}', '{"format": "trackguard-personalized-list"}', "not json"],
)
def test_import_rejects_other_files(text: str) -> None:
    with pytest.raises(ValueError):
        parse_import(text, 1)


def test_import_skips_bad_entries() -> None:
    data = {
        "format": "trackguard-personalized-list",
        "trackers": [
            {"domain": "10.0.0.1", "action": "block"},
            {"domain": "ok.example", "action": "nuke"},
            {"domain": "good.example", "action": "block", "kinds": ["cookie"], "sites": -4},
            "garbage",
        ],
    }
    rows = parse_import(json.dumps(data), 1)
    assert list(rows) == ["good.example"] and rows["good.example"].site_count == 0
