"""HAR entries to attributed exchanges (§B2 "HAR import"): page, day, cookies, types."""

from __future__ import annotations

from pathlib import Path

from learn_hars import TRACKER, write_visits

from trackguard.learn.har_adapter import har_files, read_har_exchanges
from trackguard.model import RequestType


def test_entries_are_attributed_to_their_page(tmp_path: Path) -> None:
    path = write_visits(tmp_path / "a.har", ["news.example", "shop.example"], [1, 0])
    got = list(read_har_exchanges(path))
    assert len(got) == 12
    sites = {site for _, site in got}
    assert sites == {"www.news.example", "www.shop.example"}
    pixel = [ex for ex, _ in got if TRACKER in ex.url]
    assert len(pixel) == 4
    assert pixel[0].resource_type is RequestType.IMAGE
    assert pixel[0].header("cookie").startswith("uid=")
    assert len({ex.day for ex in pixel}) == 2  # the day comes from startedDateTime
    assert har_files([tmp_path]) == [path]


def test_real_har_reads(tmp_path: Path) -> None:
    from real_hars import extract_real_hars

    files = extract_real_hars(tmp_path, limit=2)
    for path in files:
        got = list(read_har_exchanges(path))
        assert got and all(site for _, site in got)
