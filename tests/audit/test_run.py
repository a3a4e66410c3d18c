"""One-process runs: partitions are bounded and the result does not depend on their size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from har_samples import news_har
from trackguard.audit.readers import read_rows
from trackguard.audit.report import build_report
from trackguard.audit.run import audit_rows, partitions
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
