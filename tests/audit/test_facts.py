"""Facts per origin and page (`Memo`), the origin key's soundness, and flags."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from har_samples import SAMPLE_PAGES, SAMPLE_URLS
from trackguard.audit.facts import _origin_facts
from trackguard.audit.tally import FIGURES, AuditRow, Memo, tally_rows
from trackguard.domain import MEMO_URL_MAX
from trackguard.engine import Engine
from trackguard.model import RequestType


def test_memo_is_per_engine_and_bounded(small_engine: Engine) -> None:
    rows = [AuditRow(p, u, p, RequestType.SCRIPT) for u in SAMPLE_URLS for p in SAMPLE_PAGES]
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


def test_memo_keeps_no_long_keys(small_engine: Engine) -> None:
    """A hostile row's 64 KB URL without a slash is its own origin key, and its 64 KB page
    URL a page key: counted as any row, but never kept in the memo (bounded by count)."""
    long_origin = "https://ads.test?" + "q" * MEMO_URL_MAX
    long_page = "https://news.example/?" + "p" * MEMO_URL_MAX
    short = AuditRow("p", "https://ads.test/x.js", "https://news.example/", RequestType.SCRIPT)
    for detailed in (False, True):  # the plain path and the general one
        rows = [
            AuditRow("p", long_origin, long_page, RequestType.SCRIPT, detailed=detailed),
            short._replace(detailed=detailed),
        ]
        memo = Memo()
        tally = tally_rows(rows, small_engine, None, memo)
        assert tally.totals[FIGURES.index("requests")] == 2
        assert memo.origins and memo.pages  # the short row's keys are kept
        assert all(len(key) <= MEMO_URL_MAX for key in memo.origins)
        assert all(key is None or len(key) <= MEMO_URL_MAX for key in memo.pages)


_URL_TEXT = st.text(alphabet="hHtTpPsSwW:/?#@[]a.b1-", max_size=24)


@settings(max_examples=400, deadline=None)
@given(url=_URL_TEXT, tail=_URL_TEXT, prefix=st.sampled_from(["", "http://", "HTTPS://", "ws://"]))
def test_urls_sharing_an_origin_key_share_host_facts(
    small_engine: Engine, url: str, tail: str, prefix: str
) -> None:
    """`tally_rows` memoises host facts by the origin key `url[:url.find("/", 8)]` (the
    whole URL without such a `/`); that is only sound if every URL with that key has the
    same facts (`_origin_facts`' argument). The plain path works them out from the key
    alone, as the facts of `key + "/"` (a URL with that key), so those must agree too."""
    url = prefix + url
    cut = url.find("/", 8)
    key = url[:cut] if cut >= 0 else url
    facts = _origin_facts(url, small_engine)
    assert _origin_facts(key + "/", small_engine) == facts
    if cut >= 0:
        assert _origin_facts(key + "/" + tail, small_engine) == facts
