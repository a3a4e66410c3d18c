"""The plain path (`plain.py`): log rows counted column by column, exactly as the general
path counts them."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from har_samples import SAMPLE_PAGES, SAMPLE_URLS
from trackguard.audit.report import build_report
from trackguard.audit.tally import FIGURES, AuditRow, tally_rows
from trackguard.engine import Engine
from trackguard.model import RequestType


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
    odd = [  # first-party blocks, exceptions, plain http and ws, no page, an empty page,
        # URLs without a web host, an origin key that is the whole URL, documents between
        AuditRow(p, u, p or None, t)
        for u in [
            *SAMPLE_URLS,
            "ws://tracker.test/s",
            "http://ads.test/allowed/x",
            "data:image/gif;base64,R0lGOD",
            "not a url",
            "https://tracker.test",
            "https://tracker.test?x=1",
        ]
        for p in [*SAMPLE_PAGES, ""]
        for t in (RequestType.SCRIPT, RequestType.IMAGE, RequestType.DOCUMENT)
    ]
    plain_calls: list[int] = []
    tally_plain = tally_module._tally_plain

    def spy(*args: Any) -> None:
        plain_calls.append(1)
        tally_plain(*args)

    monkeypatch.setattr(tally_module, "_tally_plain", spy)
    for rows, engine in ((real, easylist_easyprivacy), (odd, small_engine)):
        plain = tally_rows(rows, engine)
        assert plain_calls.pop()  # the plain path was taken
        with monkeypatch.context() as forced:
            forced.setattr(tally_module, "_plain", lambda rows: False)
            general = tally_rows(rows, engine)
        assert build_report(plain) == build_report(general)
        assert {k: d.rules for k, d in plain.domains.items()} == {
            k: d.rules for k, d in general.domains.items()
        }
        assert plain.totals == general.totals
        assert plain.skipped == general.skipped
        assert plain.totals[FIGURES.index("blocked_by_lists")] > 0
    assert plain.skipped["not-a-web-url"] > 0
