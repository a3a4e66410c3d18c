"""The auditor's input edge: every format streams into the same rows; bad input is named."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from har_samples import news_har
from trackguard.audit.readers import (
    AuditInputError,
    ReadStats,
    expand_inputs,
    read_rows,
)
from trackguard.model import RequestType

RECORDS = [
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
    with pytest.raises(AuditInputError, match=r"bad\.csv: a CSV log needs"):
        list(read_rows([bad]))


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
    with pytest.raises(AuditInputError, match=r"junk\.parquet: not a readable Parquet"):
        list(read_rows([junk]))


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


def test_broken_har_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.har"
    path.write_text('{"log": {"entries": [')
    with pytest.raises(AuditInputError, match=r"broken\.har: not valid JSON"):
        list(read_rows([path]))


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


def test_corrupt_gzip_is_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"url": "https://a.example/"}\n' * 1000)[:200] + b"junk")
    with pytest.raises(AuditInputError, match=r"log\.jsonl\.gz: cannot read"):
        list(read_rows([path]))


def test_same_file_names_in_two_folders_stay_apart(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        news_har(tmp_path / folder / "index.har")
    pages = {r.page for r in read_rows(expand_inputs([tmp_path]))}
    assert len(pages) == 2
