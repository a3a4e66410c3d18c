"""Planning: parts never overlap and together cover every row once, for every format.

Each file is written here with the awkward bits real logs have (bad lines, an over-long
line, CRLF, no final newline, a CSV header, several Parquet row groups); for many
partition sizes, reading the planned parts one by one must give exactly the rows of the
whole file, in order, with the same skipped counts.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from har_samples import news_har
from trackguard.audit.plan import MAX_GZIP_PARTS, plan_inputs
from trackguard.audit.readers import ReadStats, read_part, read_rows
from trackguard.audit.report import build_report
from trackguard.audit.run import audit_tasks
from trackguard.engine import Engine


def _records(n: int) -> list[dict[str, str]]:
    return [
        {"url": f"https://t{i % 7}.test/{'x' * (i % 50)}?{i}", "source_url": "https://a.example/"}
        for i in range(n)
    ]


def _jsonl(n: int) -> bytes:
    lines = [json.dumps(r).encode() for r in _records(n)]
    lines[3] = b"{not json"
    lines[10] = b'{"url": "' + b"y" * (2 << 20) + b'"}'  # over MAX_LINE
    lines[20] = b""
    return b"\r\n".join(lines[: n // 2]) + b"\r\n" + b"\n".join(lines[n // 2 :])  # no final \n


def _csv(n: int) -> bytes:
    body = [f"{r['url']},{r['source_url']},script".encode() for r in _records(n)]
    body[5] = b",no url,script"
    return b"url,source_url,type\n" + b"\n".join(body) + b"\n"


def _files(tmp_path: Path, n: int) -> list[Path]:
    out = {
        "log.jsonl": _jsonl(n),
        "log.jsonl.gz": gzip.compress(_jsonl(n)),
        "log.csv": _csv(n),
        "log.csv.gz": gzip.compress(_csv(n)),
    }
    for name, data in out.items():
        (tmp_path / name).write_bytes(data)
    return [tmp_path / name for name in out]


def _read(tasks: list[tuple[object, ...]]) -> tuple[list[str], ReadStats]:
    stats = ReadStats()
    urls = [r.url for task in tasks for part in task for r in read_part(part, stats)]  # type: ignore[arg-type]
    return urls, stats


@pytest.mark.parametrize("rows", [1, 2, 7, 50, 333, 10_000])
def test_every_cut_reads_each_row_once(tmp_path: Path, rows: int) -> None:
    for path in _files(tmp_path, 400):
        whole = ReadStats()
        expected = [r.url for r in read_rows([path], whole)]
        tasks = plan_inputs([path], rows)
        urls, stats = _read(tasks)  # type: ignore[arg-type]
        assert urls == expected, (path.name, rows)
        assert stats.skipped == whole.skipped
        if rows <= 7:
            assert len(tasks) > 1
        if path.name.endswith(".gz"):
            assert len(tasks) <= MAX_GZIP_PARTS


def test_parquet_row_groups(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "log.parquet"
    records = _records(1000)
    pq.write_table(
        pa.table({k: [r[k] for r in records] for k in ("url", "source_url")}),
        path,
        row_group_size=64,
    )
    expected = [r["url"] for r in records]
    for rows in (1, 64, 100, 5000):
        tasks = plan_inputs([path], rows)
        assert _read(tasks)[0] == expected  # type: ignore[arg-type]
        assert len(tasks) == -(-1000 // max(64, -(-rows // 64) * 64))


def test_hars_are_whole_and_grouped(tmp_path: Path) -> None:
    hars = [news_har(tmp_path / f"n{i}.har") for i in range(5)]
    one_each = plan_inputs(hars, 1)
    assert [len(t) for t in one_each] == [1] * 5
    assert [len(t) for t in plan_inputs(hars, 10_000)] == [5]
    assert all(p.unit == "file" for t in one_each for p in t)


def test_any_plan_gives_the_same_report(tmp_path: Path, small_engine: Engine) -> None:
    files = [*_files(tmp_path, 300), *(news_har(tmp_path / f"n{i}.har") for i in range(3))]
    reports = {
        json.dumps(build_report(audit_tasks(plan_inputs(files, rows), small_engine)))
        for rows in (1, 13, 100, 20_000)
    }
    assert len(reports) == 1


def test_parts_open_absolute_paths_and_keep_the_given_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    news_har(tmp_path / "n.har")
    (tmp_path / "cut.har").write_bytes((tmp_path / "n.har").read_bytes()[:900])
    monkeypatch.chdir(tmp_path)
    tasks = plan_inputs([Path("n.har"), Path("cut.har")], 10)
    parts = [p for t in tasks for p in t]
    assert [(p.path, p.label) for p in parts] == [
        (str(tmp_path / "n.har"), "n.har"),
        (str(tmp_path / "cut.har"), "cut.har"),
    ]
    monkeypatch.chdir("/")  # a worker elsewhere reads the same files, reports the same names
    stats = ReadStats()
    pages = {r.page for p in parts for r in read_part(p, stats)}
    assert pages == {"n.har#page_1", "cut.har#page_1"}  # cut.har: the entries before the cut
    assert {f for f, _ in stats.broken} == {"cut.har"}
