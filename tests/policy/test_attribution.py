"""First-party attribution (learning.md §B2) with an injected clock."""

from __future__ import annotations

from trackguard.policy.attribution import NavigationRecord, PageContext, origin_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_origin_of() -> None:
    assert origin_of("http://User@WWW.Site.test:8080/a?b#c") == "http://www.site.test:8080"
    assert origin_of("https://site.test:443/x") == "https://site.test"
    assert origin_of("about:blank") == ""


def test_engaged_site_attributes_its_subdomains_and_slides() -> None:
    clock = Clock()
    record = NavigationRecord(clock=clock, page_ttl=100)
    record.engage("http://www.site.test/page")
    ctx = record.context_for("http://static.site.test")
    assert ctx == PageContext("site.test", "http://www.site.test")
    clock.now += 90
    assert record.context_for("http://www.site.test") is not None  # refreshes
    clock.now += 90
    assert record.context_for("http://www.site.test") is not None
    clock.now += 101
    assert record.context_for("http://www.site.test") is None


def test_frame_maps_to_top_site_and_ambiguity_is_dropped() -> None:
    clock = Clock()
    record = NavigationRecord(clock=clock, frame_ttl=50)
    a = PageContext("a.test", "http://a.test")
    b = PageContext("b.test", "http://b.test")
    record.note_frame("http://widget.test/frame.html", a)
    assert record.context_for("http://widget.test") == a
    record.note_frame("http://widget.test/other.html", b)
    assert record.context_for("http://widget.test") is None  # live under two sites
    clock.now += 51
    record.note_frame("http://widget.test/again.html", b)
    assert record.context_for("http://widget.test") == b  # a's mapping expired


def test_unknown_origin_is_unattributed_and_record_is_bounded() -> None:
    record = NavigationRecord(max_entries=10)
    assert record.context_for("http://nowhere.test") is None
    for i in range(50):
        record.engage(f"http://site{i}.test/")
        record.note_frame(f"http://frame{i}.test/", PageContext("x.test", "http://x.test"))
    assert len(record) <= 20
    assert record.is_engaged("site49.test") and not record.is_engaged("site0.test")
