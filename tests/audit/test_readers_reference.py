"""The log reader against a straightforward reference, on hostile lines and any cut.

`readers` reads plain logs a block at a time, splits lines in C and decodes JSON with a
fast decoder that falls back to the stdlib's. None of that may change a row: for random
and hostile line sets (bad UTF-8, lone surrogates, NaN, duplicate keys, BOMs, CR, form
feeds, huge numbers, deep nesting, over-long lines, no final newline) and random byte
cuts, the parts must give exactly what reading the file line by line with `json.loads`
gives: the same rows in the same order and the same skip counts.

The reference is written out here from the documented rules (docs/audit.md, "Broken
inputs"), not imported, so a change to the reader cannot change it too. `MAX_LINE` and
`BLOCK` are made small for the property tests, so that lines over the cap and lines
across block boundaries are common; one test keeps the real sizes.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trackguard.audit import readers
from trackguard.audit.figures import AuditRow
from trackguard.audit.readers import Part, ReadStats, read_part, row_from_record
from trackguard.model import RequestType

Row = tuple[str, str, str | None, RequestType]


def _reference_row(record: Mapping[str, Any]) -> Row | None:
    """docs/audit.md: `url` a non-empty string of at most MAX_FIELD characters; the page
    key from `page`, else `origin` before `#entry=`, else the page URL."""
    url = record.get("url")
    if not isinstance(url, str) or not url or len(url) > readers.MAX_FIELD:
        return None
    source = record.get("source_url")
    if not isinstance(source, str) or not source or len(source) > readers.MAX_FIELD:
        source = None
    page = record.get("page")
    origin = record.get("origin")
    if isinstance(page, str) and page:
        key = page[: readers.MAX_FIELD]
    elif isinstance(origin, str) and "#entry=" in origin:
        key = origin.rsplit("#entry=", 1)[0][: readers.MAX_FIELD]
    else:
        key = source or ""
    rtype = record.get("type")
    kind = RequestType.parse(rtype) if isinstance(rtype, str) else RequestType.OTHER
    return (key, url, source, kind)


def _reference(data: bytes, start: int = 0, end: int = -1) -> tuple[list[Row], Counter[str]]:
    """The rows of the JSON lines that start in bytes [start, end), one line at a time."""
    rows: list[Row] = []
    skipped: Counter[str] = Counter()
    offset = 0
    for line in _lf_lines(data):
        line_start, offset = offset, offset + len(line)
        if line_start < start or (end >= 0 and line_start >= end):
            continue
        if len(line) > readers.MAX_LINE:  # its newline counted, as readline counts it
            skipped["line-too-long"] += 1
            continue
        text = line.decode("utf-8", "replace")
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except (ValueError, RecursionError):
            skipped["bad-json"] += 1
            continue
        row = _reference_row(record) if isinstance(record, dict) else None
        if row is None:
            skipped["no-url"] += 1
            continue
        rows.append(row)
    return rows, skipped


def _lf_lines(data: bytes) -> Iterator[bytes]:
    """Lines end at "\\n" only (a lone "\\r" is part of its line), newline kept."""
    pieces = data.split(b"\n")
    for piece in pieces[:-1]:
        yield piece + b"\n"
    if pieces[-1]:
        yield pieces[-1]


def _as_tuples(rows: Iterator[AuditRow]) -> list[Row]:
    return [(r.page, r.url, r.source_url, r.type) for r in rows]


def _read(path: Path, bounds: list[int]) -> tuple[list[Row], Counter[str], list[list[Row]]]:
    """Read the file as the parts between consecutive `bounds` (the last one to the end)."""
    stats = ReadStats()
    each = []
    ends = [*bounds[1:], -1]
    for a, b in zip(bounds, ends, strict=True):
        each.append(_as_tuples(read_part(Part(str(path), "jsonl", "bytes", a, b), stats)))
    return [r for part in each for r in part], stats.skipped, each


TYPES = ["script", "image", " XHR ", "main_frame", "Sub_Frame", "beacon", "", "bogus", "ping"]
URLS = ["https://t.test/a.js", "http://a.example/?q=1", "x", "", "ws://w.test/", "é/\u2028"]

_text = st.one_of(st.sampled_from(URLS), st.text(max_size=12))
_value = st.one_of(
    _text,
    st.none(),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_record = st.fixed_dictionaries(
    {},
    optional={
        "url": st.one_of(st.sampled_from(URLS), _value),
        "source_url": st.one_of(st.sampled_from(URLS), _value),
        "type": st.one_of(st.sampled_from(TYPES), _value),
        "page": st.one_of(st.sampled_from(["p1", ""]), _value),
        "origin": st.one_of(st.sampled_from(["repo:a.har#entry=3", "r#entry=#entry=1"]), _value),
        "extra": _value,
    },
)


@st.composite
def _record_line(draw: st.DrawFn) -> bytes:
    record = draw(_record)
    text = json.dumps(record, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


#: Lines json and the fast decoder may see differently (each must come out as json says).
HOSTILE = [
    b'{"url": "https://t.test/\\ud800"}',  # a lone surrogate: json takes it, orjson not
    b'{"url": "https://t.test/\\udc00\\ud800"}',
    b'{"url": "https://t.test/\\ud83d\\ude00"}',  # a pair: one character
    b'{"url": "https://t.test/\xff"}',  # bad UTF-8: replaced, then parsed
    b'{"url": "https://t.test/\xed\xa0\x80"}',  # an encoded surrogate: bad UTF-8 too
    b'{"url": "https://t.test/", "n": NaN}',
    b'{"url": "https://t.test/", "n": -Infinity}',
    b'{"url": "https://t.test/", "n": 1e999}',  # json: inf; orjson refuses it
    b'{"url": "https://t.test/", "n": ' + b"9" * 400 + b"}",
    b'{"url": "https://t.test/", "n": ' + b"9" * 4301 + b"}",  # over int_max_str_digits
    b'{"url": "https://t.test/", "n": 123456789012345678901234567890}',
    b'{"url": "https://t.test/first", "url": "https://t.test/second"}',
    b'{"url": "https://t.test/a", "u\\u0072l": "https://t.test/escaped-key"}',
    b'\xef\xbb\xbf{"url": "https://t.test/bom"}',
    b'{"url": "https://t.test/cr"}\r',
    b'{"url": "https://t.test/ff"}\x0c',
    b'\x0c{"url": "https://t.test/ff"}',
    b'{"url": "https://t.test/nbsp"}\xc2\xa0',
    b' \t{"url": "https://t.test/ws"} \t',
    b'{"url": "https://t.test/ctl\x01"}',
    b'{"url": "https://t.test/del\x7f"}',
    b'{"url": "https://t.test/nul\\u0000"}',
    b'{"url": "https://t.test/"}{"url": "https://t.test/2"}',
    b'{"url": "https://t.test/",}',
    b'["https://t.test/"]',
    b'"https://t.test/"',
    b"null",
    b"1",
    b"",
    b"   ",
    b"\r",
    b"\xc2\x85",  # NEL: whitespace to str.strip, not to JSON
    b"\xe3\x80\x80",  # ideographic space
    b"\x00",
    b'{"a": ' + b"[" * 300 + b"]" * 300 + b', "url": "https://t.test/deep300"}',
    # json's recursion limit (1,000 frames on 3.11) falls below orjson's 1,024 levels
    b'{"a": ' + b"[" * 1020 + b"]" * 1020 + b', "url": "https://t.test/deep1020"}',
    b'{"a": ' + b"[" * 1100 + b"]" * 1100 + b', "url": "https://t.test/deep1100"}',
    b'{"a": ' + b"{" * 2000 + b"}" * 2000 + b"}",
    b'{"url": "https://t.test/\\x"}',
    b'{"url": "https://t.test/\\uDBFF\\uDFFF", "type": "SCRIPT"}',
]

_line = st.one_of(
    _record_line(),
    st.sampled_from(HOSTILE),
    st.binary(max_size=40),
    # long lines around a small MAX_LINE (set by the property tests)
    st.integers(20, 90).map(lambda n: b'{"url": "https://t.test/' + b"z" * n + b'"}'),
)
_newline = st.sampled_from([b"\n", b"\r\n", b"\n", b"\n"])


@st.composite
def _log(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(_line, _newline), max_size=25))
    data = b"".join(line.replace(b"\n", b"") + nl for line, nl in lines)
    if draw(st.booleans()):  # no final newline
        data = data.rstrip(b"\n")
    return data


def _small(monkeypatch: pytest.MonkeyPatch, max_line: int, block: int) -> None:
    monkeypatch.setattr(readers, "MAX_LINE", max_line)
    monkeypatch.setattr(readers, "BLOCK", block)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_log(),
    cuts=st.lists(st.integers(0, 4000), max_size=6),
    max_line=st.integers(40, 120),
    block=st.integers(1, 70),
)
@example(data=b'{"url": "https://t.test/a"}\n' * 3, cuts=[], max_line=40, block=1)
def test_any_cut_reads_what_the_reference_reads(
    tmp_path_factory: pytest.TempPathFactory,
    data: bytes,
    cuts: list[int],
    max_line: int,
    block: int,
) -> None:
    path = tmp_path_factory.mktemp("log") / "log.jsonl"
    path.write_bytes(data)
    bounds = sorted({0, *(c % (len(data) + 1) for c in cuts)})
    with pytest.MonkeyPatch.context() as monkeypatch:
        _small(monkeypatch, max_line, block)
        expected_rows, expected_skipped = _reference(data)
        rows, skipped, each = _read(path, bounds)
        assert rows == expected_rows
        assert skipped == expected_skipped
        # each part reads exactly the lines that start inside its byte range
        for a, b, got in zip(bounds, [*bounds[1:], -1], each, strict=True):
            assert got == _reference(data, a, b)[0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_log(), max_line=st.integers(40, 120))
def test_gzip_lines_read_what_the_reference_reads(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, max_line: int
) -> None:
    path = tmp_path_factory.mktemp("log") / "log.jsonl.gz"
    path.write_bytes(gzip.compress(data))
    lines = data.count(b"\n") + 1
    with pytest.MonkeyPatch.context() as monkeypatch:
        _small(monkeypatch, max_line, 16)
        expected_rows, expected_skipped = _reference(data)
        stats = ReadStats()
        rows = []
        for a, b in ((0, lines // 2), (lines // 2, -1)):
            rows += _as_tuples(read_part(Part(str(path), "jsonl", "lines", a, b), stats))
    assert rows == expected_rows
    assert stats.skipped == expected_skipped


@pytest.mark.parametrize("line", HOSTILE)
def test_each_hostile_line_as_json_loads_reads_it(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "log.jsonl"
    data = line + b"\n" + b'{"url": "https://t.test/after"}\n'
    path.write_bytes(data)
    stats = ReadStats()
    rows = _as_tuples(read_part(Part(str(path), "jsonl", "bytes", 0, -1), stats))
    expected_rows, expected_skipped = _reference(data)
    assert (rows, stats.skipped) == (expected_rows, expected_skipped)
    assert rows[-1][1] == "https://t.test/after"


def test_real_sizes_long_lines_and_block_edges(tmp_path: Path) -> None:
    """The real `MAX_LINE` and `BLOCK`: lines at, just under and just over the cap, one
    crossing a block boundary, cut right before and after each."""
    cap = readers.MAX_LINE

    def padded(name: str, size: int) -> bytes:  # a line of `size` bytes without its "\n"
        head = b'{"url": "https://t.test/%s", "pad": "' % name.encode()
        return head + b"p" * (size - len(head) - 2) + b'"}'

    lines = [
        padded("a", cap - 2),  # one under the cap with its newline
        padded("b", cap - 1),  # exactly the cap with its newline
        padded("c", cap),  # one over: skipped
        padded("short", 40),
        padded("d", 3 * cap),  # far over
    ]
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    # the last line has no newline: at the cap it is kept, one byte more and it is not
    for size, kept in ((cap, ["a", "b", "short", "last"]), (cap + 1, ["a", "b", "short"])):
        data = b"\n".join([*lines, padded("last", size)])
        path = tmp_path / "log.jsonl"
        path.write_bytes(data)
        expected_rows, expected_skipped = _reference(data)
        assert expected_skipped == {"line-too-long": 6 - len(kept)}
        assert [r[1] for r in expected_rows] == [f"https://t.test/{name}" for name in kept]
        cuts = {s + d for s in starts for d in (-1, 0, 1)} | {readers.BLOCK, readers.BLOCK + 1}
        for cut in sorted(c for c in cuts if 0 < c < len(data)):
            rows, skipped, _ = _read(path, [0, cut])
            assert (rows, skipped) == (expected_rows, expected_skipped), cut


def test_reference_rows_match_row_from_record() -> None:
    """The reference's row rules are the reader's own (`row_from_record`), field by field."""
    records: list[dict[str, Any]] = [
        {"url": "https://t.test/", "source_url": "https://a.example/", "type": " Script "},
        {"url": "https://t.test/", "origin": "repo:x.har#entry=2", "type": 3},
        {"url": "https://t.test/", "page": "", "source_url": "", "type": "imageset"},
        {"url": "x" * (readers.MAX_FIELD + 1)},
        {"url": 5},
        {"source_url": "https://a.example/"},
    ]
    for record in records:
        row = row_from_record(record)
        got = None if row is None else (row.page, row.url, row.source_url, row.type)
        assert got == _reference_row(record)
        if row is not None:
            assert not row.detailed and row.bytes == -1


def test_the_lowest_int_digit_limit_still_agrees(tmp_path: Path) -> None:
    """json refuses integers over `sys.get_int_max_str_digits()` digits (at least 640 when
    set): such integers are beyond a double, which orjson refuses too."""
    path = tmp_path / "log.jsonl"
    data = b"".join(
        b'{"url": "https://t.test/%d", "n": %s}\n' % (n, b"9" * n) for n in (308, 309, 640, 641)
    )
    path.write_bytes(data)
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        stats = ReadStats()
        rows = _as_tuples(read_part(Part(str(path), "jsonl", "bytes", 0, -1), stats))
        assert (rows, stats.skipped) == _reference(data)
        assert stats.skipped == {"bad-json": 1}
    finally:
        sys.set_int_max_str_digits(before)


CSV_LINES = [
    b"https://t.test/a.js,https://a.example/,script",
    b'"https://t.test/b,c",https://a.example/,image',  # a quoted comma
    b'"https://t.test/open,https://a.example/,image',  # an unterminated quote
    b",https://a.example/,image",  # no URL
    b"https://t.test/\xff,,xhr",  # bad UTF-8
    b"\xef\xbb\xbfhttps://t.test/bom,,",
    b"https://t.test/few",
    b"https://t.test/many,https://a.example/,script,p,o,extra",
    b"",
    b" \t",
]


def _csv_reference(data: bytes, header: list[str]) -> tuple[list[Row], Counter[str]]:
    """Data lines one at a time: `csv.reader` on the line alone (one record per line)."""
    rows: list[Row] = []
    skipped: Counter[str] = Counter()
    for line in list(_lf_lines(data))[1:]:
        if len(line) > readers.MAX_LINE:
            skipped["line-too-long"] += 1
            continue
        text = line.decode("utf-8", "replace")
        if not text.strip():
            continue
        try:
            fields = next(csv.reader([text.lstrip("\ufeff").rstrip("\r\n")]), [])
        except csv.Error:
            skipped["bad-csv"] += 1
            continue
        row = _reference_row(dict(zip(header, fields, strict=False)))
        if row is None:
            skipped["no-url"] += 1
        else:
            rows.append(row)
    return rows, skipped


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from(CSV_LINES),
            st.integers(30, 90).map(lambda n: b"https://t.test/" + b"l" * n + b",,script"),
        ),
        max_size=20,
    ),
    crlf=st.booleans(),
    cuts=st.lists(st.integers(0, 3000), max_size=5),
    block=st.integers(1, 50),
)
def test_csv_any_cut_reads_what_the_reference_reads(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[bytes],
    crlf: bool,
    cuts: list[int],
    block: int,
) -> None:
    newline = b"\r\n" if crlf else b"\n"
    header = ["url", "source_url", "type"]
    data = newline.join([b"url,source_url,type", *lines]) + newline
    path = tmp_path_factory.mktemp("log") / "log.csv"
    path.write_bytes(data)
    bounds = sorted({0, *(c % (len(data) + 1) for c in cuts)})
    with pytest.MonkeyPatch.context() as monkeypatch:
        _small(monkeypatch, 60, block)
        expected = _csv_reference(data, header)
        stats = ReadStats()
        rows = []
        for a, b in zip(bounds, [*bounds[1:], -1], strict=True):
            rows += _as_tuples(read_part(Part(str(path), "csv", "bytes", a, b), stats))
    assert (rows, stats.skipped) == expected


@pytest.mark.parametrize("keep", [0.3, 0.55, 0.8, 0.97])
def test_a_truncated_gzip_gives_the_same_rows_for_any_cut(tmp_path: Path, keep: float) -> None:
    """The rows before a break in a gzip stream do not depend on how the lines were cut
    into parts (each part decompresses from the start, `read1` by `read1`)."""
    data = b"".join(
        json.dumps({"url": f"https://t.test/{i}/" + "x" * (i * 37 % 300)}).encode() + b"\n"
        for i in range(6000)
    )
    packed = gzip.compress(data)
    path = tmp_path / "log.jsonl.gz"
    path.write_bytes(packed[: int(len(packed) * keep)])
    results = set()
    for bounds in ([0], [0, 1000, 2000, 3000, 4000, 5000], [0, 2999, 3001], [0, 5999]):
        stats = ReadStats()
        urls: list[str] = []
        for a, b in zip(bounds, [*bounds[1:], -1], strict=True):
            urls += [r.url for r in read_part(Part(str(path), "jsonl", "lines", a, b), stats)]
        assert len(stats.broken) == 1
        results.add((tuple(urls), frozenset(stats.broken)))
    ((urls_read, _),) = results
    assert 0 < len(urls_read) < 6000
    assert list(urls_read) == [r[1] for r in _reference(data)[0][: len(urls_read)]]
