"""Entity data: Disconnect services/entities and DuckDuckGo's TDS, real files and hostile ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trackguard.audit.entities import EntityError, detect, load_entities, parse_entities

OTHER = "other"


def test_disconnect_services(corpus_dir: Path) -> None:
    entities = load_entities([corpus_dir / OTHER / "disconnect-services.json"])
    assert entities.sources == ("disconnect-services",)
    assert entities.company("stats.g.doubleclick.net") == "Google"
    assert "Advertising" in entities.category("doubleclick.net")
    assert entities.company("example.org") is None


def test_disconnect_entities_relate_properties_and_resources(corpus_dir: Path) -> None:
    entities = load_entities([corpus_dir / OTHER / "disconnect-entities.json"])
    assert entities.related("www.youtube.com", "i.ytimg.com")
    assert not entities.related("www.youtube.com", "facebook.com")
    assert entities.category("doubleclick.net") == ()  # ownership only, no categories


def test_duckduckgo_owners_roll_up_to_their_parent(corpus_dir: Path) -> None:
    entities = load_entities([corpus_dir / OTHER / "duckduckgo-tds-extension-v6.json"])
    # `doubleclick.net` is owned by "Google Ads", which is ownedBy "Google LLC"
    assert entities.company("doubleclick.net") == entities.company("google.com") == "Google"
    assert "Advertising" in entities.category("ad.doubleclick.net")


def test_lookup_stops_at_the_registrable_domain(corpus_dir: Path) -> None:
    entities = load_entities([corpus_dir / OTHER / "duckduckgo-tds-extension-v6.json"])
    # run.app is Google's, but `x.a.run.app` is a customer's site (a.run.app is a suffix)
    assert entities.company("someone-abc123-ew.a.run.app") is None


def test_first_file_wins() -> None:
    a = {"entities": {"A": {"properties": ["x.example"], "resources": []}}}
    b = {"entities": {"B": {"properties": ["x.example", "y.example"], "resources": []}}}
    entities = parse_entities([a, b])
    assert entities.company("x.example") == "A"
    assert entities.company("y.example") == "B"


def test_hostile_shapes_are_ignored_not_fatal() -> None:
    data = {
        "trackers": {
            "a.example": "junk",
            "b.example": {"owner": {"name": "L1", "ownedBy": "L2"}, "categories": [1, "Ads"]},
            "c.example": {"owner": {"name": "L2", "ownedBy": "L1"}},  # an ownership cycle
            "d" * 300: {"owner": {"name": "long"}},
        },
        "entities": [],
        "domains": {"e.example": None},
    }
    entities = parse_entities([data])
    assert entities.company("b.example") in {"L1", "L2"}
    assert entities.category("b.example") == ("Ads",)
    assert entities.company("e.example") is None


@pytest.mark.parametrize("data", [[], {"x": 1}, "text", None])
def test_unknown_shapes_raise(data: object) -> None:
    with pytest.raises(EntityError, match="not an entity file"):
        detect(data)


def test_bad_files_name_themselves(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(EntityError, match=r"bad\.json: not valid JSON"):
        load_entities([bad])
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"x": 1}))
    with pytest.raises(EntityError, match=r"wrong\.json: not an entity file"):
        load_entities([wrong])
    with pytest.raises(EntityError, match=r"missing\.json: cannot read"):
        load_entities([tmp_path / "missing.json"])
