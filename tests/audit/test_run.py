"""One-process runs: partitions are bounded and the result does not depend on their size."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from har_samples import news_har
from trackguard.audit.plan import plan_inputs
from trackguard.audit.readers import read_rows
from trackguard.audit.report import build_report
from trackguard.audit.run import _joined, audit_rows, audit_tasks, partitions, tally_task
from trackguard.audit.tally import Tally
from trackguard.engine import Engine


def test_partitions_are_bounded_and_complete() -> None:
    parts: list[list[Any]] = list(partitions(iter(range(10)), 4))  # type: ignore[arg-type]
    assert parts == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(partitions(iter([]), 4)) == []


def test_partition_size_does_not_change_the_report(tmp_path: Path, small_engine: Engine) -> None:
    files = [news_har(tmp_path / f"n{i}.har") for i in range(3)]
    done: list[int] = []
    one = audit_rows(read_rows(files), small_engine, partition_rows=1, progress=done.append)
    many = audit_rows(read_rows(files), small_engine, partition_rows=10_000)
    assert build_report(one) == build_report(many)
    assert done == [1] * 24  # progress is reported once per partition, in rows


def test_gzip_line_ranges_are_read_as_one_in_one_process(
    tmp_path: Path, small_engine: Engine
) -> None:
    """`audit_tasks` joins consecutive line ranges of one gzipped log (each would
    decompress the file from its start); the report is that of the parts one by one."""
    lines = [
        json.dumps({"url": f"https://t{i % 5}.test/{i}", "page": f"p{i % 3}"}) for i in range(600)
    ]
    lines[7] = "{broken"
    whole = gzip.compress("\n".join(lines).encode())
    good, cut = tmp_path / "a.jsonl.gz", tmp_path / "cut.jsonl.gz"
    good.write_bytes(whole)
    cut.write_bytes(whole[: len(whole) * 2 // 3])  # truncated: keeps the rows before
    har = news_har(tmp_path / "n.har")
    tasks = plan_inputs([good, har, cut, good], 50)
    joined = list(_joined(tasks))
    assert sum(len(t) for t in tasks if t[0].unit == "lines") > 6
    assert [(p.name, p.unit, p.start, p.end) for t in joined for p in t] == [
        (str(good), "lines", 0, -1),
        (str(har), "file", 0, -1),
        (str(cut), "lines", 0, -1),
        (str(good), "lines", 0, -1),  # the same file again: a range of its own
    ]
    one_by_one = Tally()
    for task in tasks:
        one_by_one.merge(tally_task(task, small_engine))
    report = build_report(audit_tasks(tasks, small_engine))
    assert report == build_report(one_by_one)
    assert report["summary"]["unreadable_rows"] == 3  # line 7 of each of the three
    assert [item["file"] for item in report["skipped_inputs"]] == [str(cut)]
