"""Run an audit in this process: read planned parts, classify them batch by batch, reduce.

`tally_task` is also what every Dask worker runs (`distributed.py`), on the same parts, so
a local run is the reference the cluster must reproduce exactly. Progress is reported
through a plain callback (rows done), so the CLI decides how to draw it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice

from trackguard.audit.entities import EntityMap
from trackguard.audit.plan import Task
from trackguard.audit.readers import Part, ReadStats, read_part
from trackguard.audit.tally import AuditRow, Checker, Memo, Tally, tally_rows

PARTITION_ROWS = 20_000

Progress = Callable[[int], None]


def partitions(rows: Iterable[AuditRow], size: int = PARTITION_ROWS) -> Iterator[list[AuditRow]]:
    """Consecutive lists of at most `size` rows (the unit of one `check_batch` call)."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def tally_task(
    parts: Sequence[Part],
    engine: Checker,
    entities: EntityMap | None = None,
    *,
    batch_rows: int = PARTITION_ROWS,
    progress: Progress | None = None,
    memo: Memo | None = None,
) -> Tally:
    """Read the parts and classify their rows in batches: one task's partial `Tally`.

    Rows a broken file yielded before its break are counted; the file is listed in
    `Tally.broken` (readers' module doc). Memory is bounded by one batch of rows plus the
    tally itself (pages, sites, domains), never by the size of the input.
    """
    stats = ReadStats()

    def rows() -> Iterator[AuditRow]:
        for part in parts:
            yield from read_part(part, stats)

    memo = memo if memo is not None else Memo()
    total = _tally_batches(rows(), engine, entities, memo, batch_rows, progress)
    total.skipped.update(stats.skipped)
    total.broken |= stats.broken
    return total


def audit_tasks(
    tasks: Iterable[Task],
    engine: Checker,
    entities: EntityMap | None = None,
    *,
    partition_rows: int = PARTITION_ROWS,
    progress: Progress | None = None,
) -> Tally:
    """Run every planned task here, one after the other, and merge their tallies."""
    total = Tally()
    memo = Memo()
    for task in tasks:
        total.merge(
            tally_task(
                task, engine, entities, batch_rows=partition_rows, progress=progress, memo=memo
            )
        )
    return total


def audit_rows(
    rows: Iterable[AuditRow],
    engine: Checker,
    entities: EntityMap | None = None,
    *,
    partition_rows: int = PARTITION_ROWS,
    progress: Progress | None = None,
) -> Tally:
    """Classify and count rows already in memory (tests, benchmarks, library callers)."""
    return _tally_batches(rows, engine, entities, Memo(), partition_rows, progress)


def _tally_batches(
    rows: Iterable[AuditRow],
    engine: Checker,
    entities: EntityMap | None,
    memo: Memo,
    size: int,
    progress: Progress | None,
) -> Tally:
    """Rows classified and counted batch by batch (one `check_batch` call each)."""
    total = Tally()
    for batch in partitions(rows, size):
        tally_rows(batch, engine, entities, memo, into=total)
        if progress is not None:
            progress(len(batch))
    return total
