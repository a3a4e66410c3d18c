"""Run an audit in this process: read planned parts, classify them batch by batch, reduce.

`tally_task` is also what every Dask worker runs (`distributed.py`), on the same parts, so
a local run is the reference the cluster must reproduce exactly. Progress is reported
through a plain callback (rows done), so the CLI decides how to draw it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
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
    """Run every planned task here, one after the other, and merge their tallies
    (consecutive line ranges of one gzipped log read as one: `_joined`)."""
    total = Tally()
    memo = Memo()
    for task in _joined(tasks):
        total.merge(
            tally_task(
                task, engine, entities, batch_rows=partition_rows, progress=progress, memo=memo
            )
        )
    return total


def _joined(tasks: Iterable[Task]) -> Iterator[Task]:
    """The tasks, with consecutive line ranges of one gzipped log joined into one range.

    Gzip cannot be entered midway, so each such part decompresses its file from the start
    up to its range (`plan.py`): spread over workers that buys parallel reading, in one
    process it only repeats work (a log cut in 32 parts was decompressed ~16 times). The
    joined range reads the same lines in the same order: planned parts never overlap and
    together cover the file, so the report is the same (`plan.py`: any plan gives it).
    """
    held: Part | None = None
    for task in tasks:
        part = task[0] if len(task) == 1 else None
        if part is not None and part.unit == "lines":
            same_file = held is not None and (held.path, held.name) == (part.path, part.name)
            if same_file and held is not None and 0 <= held.end == part.start:
                held = replace(held, end=part.end)
                continue
            if held is not None:
                yield (held,)
            held = part
            continue
        if held is not None:
            yield (held,)
            held = None
        yield task
    if held is not None:
        yield (held,)


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
