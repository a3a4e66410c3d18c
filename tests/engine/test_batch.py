"""`Engine.check_batch` (the auditor's entry point) decides exactly as `Engine.check`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.domain import split_url_fast
from trackguard.engine import Engine
from trackguard.engine.batch import OriginParts, Question, _Parts, origin_key, origin_parts
from trackguard.engine.request import Context, page_keys
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


def _questions(rows: list[tuple[str, str | None, RequestType]]) -> list[Question]:
    memo: dict[str, OriginParts] = {}
    out: list[Question] = []
    for url, source, rtype in rows:
        key = origin_key(url)
        if key not in memo:
            memo[key] = origin_parts(key)
        out.append((url, source, int(rtype), memo[key]))
    return out


def test_the_real_log_is_decided_as_check_decides(
    corpus_dir: Path, easylist_easyprivacy: Engine
) -> None:
    """Every row of the real request log (64,295 requests), with the parts an auditor
    passes, with none, and with another origin's parts: the same decisions as `check`."""
    rows: list[tuple[str, str | None, RequestType]] = []
    with gzip.open(corpus_dir / "requests" / "real-requests.jsonl.gz", "rt") as handle:
        for line in handle:
            record = json.loads(line)
            rtype = RequestType.parse(record.get("type") or "other")
            rows.append((record["url"], record.get("source_url") or None, rtype))
    engine = easylist_easyprivacy
    expected = [engine.check(url, source, rtype) for url, source, rtype in rows]
    assert sum(d.blocked for d in expected) > 10_000  # the rows exercise blocking
    questions = _questions(rows)
    assert sum(q[3] is not None for q in questions) > 0.99 * len(questions)
    assert engine.check_batch(questions) == expected
    # Batches of other sizes (repeats are decided once per batch).
    got = [
        d
        for i in range(0, len(questions), 7_000)
        for d in engine.check_batch(questions[i : i + 7_000])
    ]
    assert got == expected
    plain = [(url, source, bit, None) for url, source, bit, _ in questions[:5_000]]
    assert engine.check_batch(plain) == expected[:5_000]
    shifted = [(q[0], q[1], q[2], questions[i - 1][3]) for i, q in enumerate(questions[:5_000])]
    assert engine.check_batch(shifted) == expected[:5_000]


def test_a_context_from_parts_is_the_context_the_matcher_makes() -> None:
    """`_Parts` sets what `Context.__init__` sets: a slot added there must be added here."""
    slots = [name for cls in Context.__mro__ for name in getattr(cls, "__slots__", ())]
    url = "https://cdn.test/track/x.js?a=1"
    _, start, host = origin_parts(origin_key(url)) or ("", 0, "")
    for page in ("", "www.news.example"):
        made = Context(url, page, int(RequestType.SCRIPT), True)
        parts = _Parts(url, start, host, page, page_keys(page), int(RequestType.SCRIPT), True)
        for name in slots:
            assert hasattr(parts, name), f"engine.batch._Parts does not set Context.{name}"
            assert getattr(parts, name) == getattr(made, name), name


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


@settings(max_examples=500, deadline=None)
@given(
    urls=st.lists(st.tuples(_URLS, _PAGES, st.sampled_from(list(RequestType))), max_size=12),
    wrong=st.booleans(),
)
def test_any_urls_and_parts_are_decided_as_check_decides(
    urls: list[tuple[str, str | None, RequestType]], wrong: bool
) -> None:
    engine = _small()
    questions = _questions(urls)
    if wrong:  # parts of another question's origin: only speed may suffer
        questions = [(q[0], q[1], q[2], questions[i - 1][3]) for i, q in enumerate(questions)]
    assert engine.check_batch(questions) == [engine.check(u, s, t) for u, s, t in urls]


_KEY_TEXT = st.text(alphabet="hHtTpPsS:/?#@[]a.b1-", max_size=20)


@settings(max_examples=400, deadline=None)
@given(key=_KEY_TEXT, tail=st.text(alphabet="ab/?=.%:@[]", max_size=12))
def test_origin_parts_hold_for_every_url_of_the_key(key: str, tail: str) -> None:
    for prefix in ("https://", "http://", ""):
        parts = origin_parts(prefix + key)
        if parts is None:
            continue
        probe, start, host = parts
        url = probe + tail
        scheme, split_host, text = split_url_fast(url)
        assert (split_host, text, len(scheme) + 3) == (host, url, start)


_ENGINE: list[Engine] = []


def _small() -> Engine:
    if not _ENGINE:
        _ENGINE.append(Engine.from_text(LIST, list_id="batch-test.txt"))
    return _ENGINE[0]
