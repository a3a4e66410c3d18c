"""Classification and counting: each figure checked on a hand-made page, and merging."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from har_samples import ENTITIES, SAMPLE_PAGES, SAMPLE_URLS, news_har
from trackguard.audit.entities import parse_entities
from trackguard.audit.readers import read_rows
from trackguard.audit.report import build_report
from trackguard.audit.tally import FIGURES, AuditRow, Memo, Tally, tally_rows
from trackguard.engine import Engine
from trackguard.model import RequestType


def _figures(tally: Tally) -> dict[str, int]:
    return dict(zip(FIGURES, tally.totals, strict=True))


def test_every_figure_of_one_page(tmp_path: Path, small_engine: Engine) -> None:
    rows = list(read_rows([news_har(tmp_path / "news.har")]))
    tally = tally_rows(rows, small_engine)
    assert _figures(tally) == {
        "requests": 8,
        "subresources": 7,
        "third_party_requests": 6,  # all but app.js (static.newscdn.example is another site)
        "blocked_by_lists": 3,  # tracker.test, ads.test/banner, /pixel.gif
        # tracker.test by host; the pixel is plain http (the proxy sees its URL); ads.test
        # stays reachable at CONNECT because a path exception allows part of it (§A.7 6)
        "stopped_by_tunnels": 2,
        "bytes": 5000 + 43 + 100 * 6,
        "third_party_bytes": 5000 + 43 + 100 * 4,
        "blocked_bytes": 5000 + 43 + 100,
        "third_party_cookies_sent": 1,
        "third_party_cookies_set": 1,
        "dnt_requests": 4,
        "gpc_requests": 4,
        "detailed_requests": 8,
        "third_party_requests_by_site": 6,
    }
    ads = tally.domains["ads.test"]
    assert (ads.requests, ads.blocked, ads.tunnel) == (2, 1, 0)
    assert ads.rules == {("audit-test.txt", 4, "||ads.test^"): 1}
    assert tally.domains["tracker.test"].rules == {
        ("audit-test.txt", 3, "||tracker.test^$third-party"): 1
    }
    assert tally.domains["other.test"].blocked == 1  # one pixel, one font
    assert tally.sites["news.example"].trackers == {
        "ads.test": 1,
        "tracker.test": 1,
        "other.test": 1,
    }


def test_related_domains_of_one_company_are_not_third_parties(
    tmp_path: Path, small_engine: Engine
) -> None:
    rows = list(read_rows([news_har(tmp_path / "news.har")]))
    tally = tally_rows(rows, small_engine, parse_entities([ENTITIES]))
    figures = _figures(tally)
    assert figures["third_party_requests"] == 5  # newscdn.example belongs to News Corp
    assert figures["third_party_requests_by_site"] == 6
    assert tally.sites["news.example"].companies == {
        "Ads Inc": 2,
        "tracker.test": 1,
        "other.test": 2,
    }


def test_first_party_blocks_count_as_trackers_of_their_own_domain(small_engine: Engine) -> None:
    rows = [AuditRow("p", "https://ads.test/x.js", "https://www.ads.test/", RequestType.SCRIPT)]
    tally = tally_rows(rows, small_engine)
    assert _figures(tally)["third_party_requests"] == 0
    assert tally.domains["ads.test"].blocked == 1


def test_rows_without_a_web_url_are_skipped(small_engine: Engine) -> None:
    rows = [
        AuditRow("p", "data:image/png;base64,AA", "https://a.example/", RequestType.IMAGE),
        AuditRow("p", "not a url", None, RequestType.OTHER),
        AuditRow("p", "https://ads.test/", None, RequestType.SCRIPT),  # no page: third party
    ]
    tally = tally_rows(rows, small_engine)
    assert tally.skipped == {"not-a-web-url": 2}
    assert _figures(tally)["third_party_requests"] == 1
    assert _figures(tally)["blocked_by_lists"] == 1


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(SAMPLE_URLS),
            st.sampled_from(SAMPLE_PAGES),
            st.sampled_from([RequestType.SCRIPT, RequestType.IMAGE, RequestType.DOCUMENT]),
        ),
        max_size=40,
    ),
    cuts=st.lists(st.integers(0, 40), max_size=4),
)
def test_any_partitioning_gives_the_same_report(
    small_engine: Engine, rows: list[tuple[str, str, RequestType]], cuts: list[int]
) -> None:
    audit_rows = [AuditRow(page, url, page, t) for url, page, t in rows]
    whole = build_report(tally_rows(audit_rows, small_engine))
    bounds = sorted({0, len(audit_rows), *(c for c in cuts if c < len(audit_rows))})
    memo = Memo(limit=3)  # shared across the parts and cleared often: no effect on figures
    parts = [
        tally_rows(audit_rows[a:b], small_engine, None, memo) for a, b in itertools.pairwise(bounds)
    ]
    merged = Tally()
    for part in reversed(parts):  # order of arrival must not matter
        merged.merge(part)
    assert build_report(merged) == whole
    # Counting each part into one running tally (`into`, as `run.py` does) is merging.
    running = Tally()
    for a, b in itertools.pairwise(bounds):
        assert tally_rows(audit_rows[a:b], small_engine, None, memo, into=running) is running
    assert build_report(running) == whole
