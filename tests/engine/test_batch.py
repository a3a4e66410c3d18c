"""`Engine.check_batch` (the auditor's entry point) decides exactly as `Engine.check`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.engine import Engine
from trackguard.model import RequestType

LIST = """\
||ads.test^$third-party
@@||ads.test/ok^
/pixel.gif
||cdn.test/track/*$script,domain=news.example|~www.news.example
@@||news.example^$document
||evil.test^$important
@@||evil.test/lib.js
track$image
|http://plain.test/
"""


def test_the_real_log_is_decided_as_check_decides(
    corpus_dir: Path, easylist_easyprivacy: Engine
) -> None:
    """Every row of the real request log (64,295 requests), in one batch and in batches
    of 7,000: the same decisions as `check`, reasons and rules included."""
    rows: list[tuple[str, str | None, RequestType]] = []
    with gzip.open(corpus_dir / "requests" / "real-requests.jsonl.gz", "rt") as handle:
        for line in handle:
            record = json.loads(line)
            rtype = RequestType.parse(record.get("type") or "other")
            rows.append((record["url"], record.get("source_url") or None, rtype))
    engine = easylist_easyprivacy
    expected = [engine.check(url, source, rtype) for url, source, rtype in rows]
    assert sum(d.blocked for d in expected) > 10_000  # the rows exercise blocking
    questions = [(url, source, int(rtype)) for url, source, rtype in rows]
    assert len(set(questions)) < len(questions)  # and repeats
    assert engine.check_batch(questions) == expected
    step = 7_000
    got = [
        d for i in range(0, len(rows), step) for d in engine.check_batch(questions[i : i + step])
    ]
    assert got == expected


_PAGES = st.sampled_from(
    [
        None,
        "",
        "https://news.example/a",
        "https://www.news.example/",
        "https://ads.test/",
        "data:,x",
    ]
)
_URLS = st.builds(
    "".join,
    st.lists(
        st.sampled_from(
            [
                "https://",
                "http://",
                "HTTP://",
                "ws://",
                "ads.test",
                "cdn.test",
                "news.example",
                "evil.test",
                "plain.test",
                "Ads.Test",
                ":443",
                ":8080",
                "u@",
                "[::1]",
                "/",
                "/ok",
                "/track/x.js",
                "/pixel.gif",
                "/lib.js",
                "?a=/b",
                "#f",
                "xn--bcher-kva.test",
                ".",
            ]
        ),
        max_size=7,
    ),
)
_ENGINE: list[Engine] = []


@settings(max_examples=300, deadline=None)
@given(urls=st.lists(st.tuples(_URLS, _PAGES, st.sampled_from(list(RequestType))), max_size=12))
def test_any_questions_are_decided_as_check_decides(
    urls: list[tuple[str, str | None, RequestType]],
) -> None:
    if not _ENGINE:
        _ENGINE.append(Engine.from_text(LIST, list_id="batch-test.txt"))
    engine = _ENGINE[0]
    questions = [(u, s, int(t)) for u, s, t in urls + urls[:3]]  # with repeats
    expected = [engine.check(u, s, t) for u, s, t in urls + urls[:3]]
    assert engine.check_batch(questions) == expected
