"""Classification and counting: each figure checked on a hand-made page, and merging."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from har_samples import ENTITIES, news_har
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


_URLS = [
    "https://ads.test/a",
    "https://ads.test/allowed/b",
    "https://tracker.test/t.js",
    "https://news.example/x.js",
    "http://cdn.other.test/pixel.gif",
    "https://static.newscdn.example/s.css",
]
_PAGES = ["https://news.example/", "https://www.other.test/", "https://ads.test/"]


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(_URLS),
            st.sampled_from(_PAGES),
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


def test_memo_is_per_engine_and_bounded(small_engine: Engine) -> None:
    rows = [AuditRow(p, u, p, RequestType.SCRIPT) for u in _URLS for p in _PAGES]
    memo = Memo(limit=4)
    tally_rows(rows[:2], small_engine, None, memo)
    assert memo.engine is small_engine and 0 < len(memo.origins) + len(memo.pages) <= 4
    first = tally_rows(rows, small_engine, None, memo)  # past the limit: cleared next batch
    assert first.totals[FIGURES.index("stopped_by_tunnels")] > 0
    assert len(memo.origins) + len(memo.pages) > 4
    tally_rows(rows[:1], small_engine, None, memo)
    assert len(memo.origins) + len(memo.pages) <= 2
    # Another engine (here: one that blocks nothing) never sees the first one's answers.
    other = Engine.from_text("||unrelated.example^", list_id="other.txt")
    assert tally_rows(rows, other, None, memo).totals[FIGURES.index("stopped_by_tunnels")] == 0
    assert memo.engine is other


_URL_TEXT = st.text(alphabet="hHtTpPsSwW:/?#@[]a.b1-", max_size=24)


@settings(max_examples=400, deadline=None)
@given(url=_URL_TEXT, tail=_URL_TEXT, prefix=st.sampled_from(["", "http://", "HTTPS://", "ws://"]))
def test_urls_sharing_an_origin_key_share_host_facts(
    small_engine: Engine, url: str, tail: str, prefix: str
) -> None:
    """`tally_rows` memoises host facts by `url[:url.find("/", 8)]`; that is only sound
    if every URL with that key has the same facts (`_origin_facts`' argument)."""
    from trackguard.audit.tally import _origin_facts

    url = prefix + url
    cut = url.find("/", 8)
    if cut < 0:
        return  # the key is the whole URL: nothing else shares it
    other = url[:cut] + "/" + tail
    assert _origin_facts(url, small_engine) == _origin_facts(other, small_engine)


def _real_log_rows(corpus_dir: Path, limit: int) -> list[AuditRow]:
    import gzip
    import json

    from trackguard.audit.readers import row_from_record

    rows: list[AuditRow] = []
    with gzip.open(corpus_dir / "requests" / "real-requests.jsonl.gz", "rt") as handle:
        for line in itertools.islice(handle, limit):
            row = row_from_record(json.loads(line))
            if row is not None:
                rows.append(row)
    return rows


def test_plain_rows_are_counted_as_the_general_path_counts_them(
    corpus_dir: Path, easylist_easyprivacy: Engine, small_engine: Engine, monkeypatch: Any
) -> None:
    """Log rows without entity data take `_count_plain` (column by column); forcing the
    general path (`_count_rows`) on the same rows gives the same figures and rules."""
    import trackguard.audit.tally as tally_module

    real = _real_log_rows(corpus_dir, 6_000)
    odd = [  # first-party blocks, exceptions, plain http and ws, no page, an empty page
        AuditRow(p, u, p or None, t)
        for u in [*_URLS, "ws://tracker.test/s", "http://ads.test/allowed/x"]
        for p in [*_PAGES, ""]
        for t in (RequestType.SCRIPT, RequestType.IMAGE, RequestType.DOCUMENT)
    ]
    for rows, engine in ((real, easylist_easyprivacy), (odd, small_engine)):
        plain = tally_rows(rows, engine)
        monkeypatch.setattr(tally_module, "_plain", lambda rows: False)
        general = tally_rows(rows, engine)
        monkeypatch.undo()
        assert build_report(plain) == build_report(general)
        assert {k: d.rules for k, d in plain.domains.items()} == {
            k: d.rules for k, d in general.domains.items()
        }
        assert plain.totals == general.totals
        assert _figures(plain)["blocked_by_lists"] > 0
