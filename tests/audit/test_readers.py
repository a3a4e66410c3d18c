"""The auditor's input edge: every format streams into the same rows; bad input is named.

Broken files are real files written here (truncated, malformed, corrupt): the rows read
before the break are kept and the file is listed with its reason; only a file that
cannot be opened stops the read.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from har_samples import news_har
from trackguard.audit.readers import (
    AuditInputError,
    InputUnreachable,
    Part,
    ReadStats,
    expand_inputs,
    read_part,
    read_rows,
)
from trackguard.model import RequestType

RECORDS: list[dict[str, Any]] = [
    {"url": "https://a.example/", "source_url": "https://a.example/", "type": "document"},
    {
        "url": "https://t.test/x.js",
        "source_url": "https://a.example/",
        "type": "script",
        "page": "p1",
    },
    {
        "url": "https://t.test/y",
        "source_url": None,
        "type": "beacon",
        "origin": "repo:path/a.har#entry=7",
    },
]


def _expected() -> list[tuple[str, str, str | None, RequestType]]:
    return [
        ("https://a.example/", "https://a.example/", "https://a.example/", RequestType.DOCUMENT),
        ("p1", "https://t.test/x.js", "https://a.example/", RequestType.SCRIPT),
        ("repo:path/a.har", "https://t.test/y", None, RequestType.PING),
    ]


def _rows(paths: list[Path]) -> list[tuple[str, str, str | None, RequestType]]:
    return [(r.page, r.url, r.source_url, r.type) for r in read_rows(paths)]


def test_jsonl_plain_and_gzip(tmp_path: Path) -> None:
    text = "".join(json.dumps(r) + "\n" for r in RECORDS)
    plain = tmp_path / "log.jsonl"
    plain.write_text(text + "\n{broken\n[1]\n" + json.dumps({"url": "x" * 70_000}) + "\n")
    packed = tmp_path / "log.jsonl.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert _rows([plain]) == _expected()
    assert _rows([packed]) == _expected()
    stats = ReadStats()
    list(read_rows([plain], stats))
    assert stats.skipped == {"bad-json": 1, "no-url": 2}


def test_jsonl_skips_over_long_lines_without_reading_them_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_text('{"url": "' + "a" * (3 << 20) + '"}\n' + json.dumps(RECORDS[1]) + "\n")
    stats = ReadStats()
    rows = list(read_rows([path], stats))
    assert [r.url for r in rows] == [RECORDS[1]["url"]]
    assert stats.skipped == {"line-too-long": 1}


def test_csv(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["url", "source_url", "type", "page", "origin"])
        writer.writeheader()
        for r in RECORDS:
            writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    assert _rows([path]) == _expected()
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    stats = ReadStats()
    assert list(read_rows([bad], stats)) == []
    assert stats.broken == {(str(bad), "no header row with a `url` column")}


def test_csv_bad_rows_are_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(
        b"\xef\xbb\xbfurl,source_url,type\r\n"  # a BOM and CRLF, as Excel writes them
        b"https://t.test/a.js,https://a.example/,script\r\n"
        b'"https://t.test/b,https://a.example/,image\r\n'  # an unterminated quote
        b",https://a.example/,image\r\n"  # no URL
        + b"https://t.test/"
        + b"x" * (2 << 20)
        + b",,\n"  # over the line cap
        + b"https://t.test/c.png,https://a.example/,image"  # no final newline
    )
    stats = ReadStats()
    rows = list(read_rows([path], stats))
    # one record per line: the open quote cannot swallow the lines after it
    assert [r.url for r in rows] == [
        "https://t.test/a.js",
        "https://t.test/b,https://a.example/,image",
        "https://t.test/c.png",
    ]
    assert stats.broken == set()
    assert stats.skipped["line-too-long"] == 1
    assert stats.skipped["no-url"] == 1


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "log.parquet"
    columns = {
        k: [r.get(k) for r in RECORDS] for k in ("url", "source_url", "type", "page", "origin")
    }
    pq.write_table(pa.table(columns), path, row_group_size=1)
    assert _rows([path]) == _expected()
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 not really")
    stats = ReadStats()
    assert list(read_rows([junk], stats)) == []
    ((file, reason),) = stats.broken
    assert file == str(junk) and reason.startswith("not a readable Parquet file")


def test_har_rows_carry_details(tmp_path: Path) -> None:
    rows = list(read_rows([news_har(tmp_path / "n.har")]))
    assert len(rows) == 8
    assert {r.page for r in rows} == {f"{tmp_path / 'n.har'}#page_1"}
    tracker = rows[3]
    assert (tracker.cookies_sent, tracker.dnt, tracker.gpc, tracker.detailed) == (
        True,
        True,
        True,
        True,
    )
    assert rows[4].cookies_set and rows[4].bytes == 5000


def test_broken_har_keeps_the_entries_before_the_break(tmp_path: Path) -> None:
    whole = news_har(tmp_path / "n.har").read_bytes()
    cut = tmp_path / "cut.har"
    cut.write_bytes(whole[: whole.index(b"https://tracker.test/") + 40])  # truncated
    malformed = tmp_path / "malformed.har"
    malformed.write_bytes(whole.replace(b'"entries"', b'"entries" ]', 1))
    stats = ReadStats()
    rows = list(read_rows([cut, malformed, news_har(tmp_path / "ok.har")], stats))
    kept = [r for r in rows if r.page.startswith(str(cut))]
    assert 0 < len(kept) < 8
    assert len(rows) == len(kept) + 8
    assert {f for f, _ in stats.broken} == {str(cut), str(malformed)}
    assert all(reason.startswith("not valid JSON") for _, reason in stats.broken)


def test_a_file_that_cannot_be_opened_stops_the_read(tmp_path: Path) -> None:
    for part in (
        Part(str(tmp_path / "gone.har"), "har"),
        Part(str(tmp_path / "gone.jsonl"), "jsonl", "bytes", 0, -1),
        Part(str(tmp_path / "gone.csv.gz"), "csv", "lines", 5, 10),
        Part(str(tmp_path / "gone.parquet"), "parquet", "row-groups", 0, -1),
    ):
        with pytest.raises(InputUnreachable, match=r"gone\..*: cannot open"):
            list(read_part(part))
    # a folder where a file was planned, as an unreadable path (root reads any file)
    (tmp_path / "dir.har").mkdir()
    with pytest.raises(InputUnreachable, match=r"dir\.har: cannot open: Is a directory"):
        list(read_part(Part(str(tmp_path / "dir.har"), "har")))


def test_expand_inputs(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    news_har(tmp_path / "sub" / "b.har")
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "notes.txt").write_text("")
    assert expand_inputs([tmp_path]) == [tmp_path / "a.jsonl", tmp_path / "sub" / "b.har"]
    with pytest.raises(AuditInputError, match="unknown input format"):
        expand_inputs([tmp_path / "notes.txt"])
    with pytest.raises(AuditInputError, match="no such file"):
        expand_inputs([tmp_path / "none.har"])
    with pytest.raises(AuditInputError, match="no HAR, JSONL"):
        expand_inputs([_empty(tmp_path)])


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty"
    path.mkdir()
    return path


def test_corrupt_gzip_keeps_the_rows_before_the_break(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl.gz"
    data = gzip.compress(b"".join(b'{"url": "https://a.example/%d"}\n' % i for i in range(9000)))
    path.write_bytes(data[: len(data) // 2])  # truncated
    stats = ReadStats()
    rows = list(read_rows([path], stats))
    assert 0 < len(rows) < 9000
    assert [r.url for r in rows] == [f"https://a.example/{i}" for i in range(len(rows))]
    ((file, reason),) = stats.broken
    assert file == str(path) and reason.startswith("cannot read past a point")


def test_same_file_names_in_two_folders_stay_apart(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        news_har(tmp_path / folder / "index.har")
    pages = {r.page for r in read_rows(expand_inputs([tmp_path]))}
    assert len(pages) == 2
