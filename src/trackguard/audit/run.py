"""Run an audit in this process: read rows, classify them partition by partition, reduce.

The same partitions and the same `tally_rows` are used by `distributed.py`, so a local run
is the reference the cluster must reproduce exactly. Progress is reported through a plain
callback (rows done), so the CLI decides how to draw it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from trackguard.audit.entities import EntityMap
from trackguard.audit.tally import AuditRow, Checker, Tally, tally_rows

PARTITION_ROWS = 20_000

Progress = Callable[[int], None]


def partitions(rows: Iterable[AuditRow], size: int = PARTITION_ROWS) -> Iterator[list[AuditRow]]:
    """Consecutive lists of at most `size` rows (the unit of work and of retries)."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def audit_rows(
    rows: Iterable[AuditRow],
    engine: Checker,
    entities: EntityMap | None = None,
    *,
    partition_rows: int = PARTITION_ROWS,
    progress: Progress | None = None,
) -> Tally:
    """Classify and count all rows here, one partition at a time (bounded memory per step)."""
    total = Tally()
    for batch in partitions(rows, partition_rows):
        total.merge(tally_rows(batch, engine, entities))
        if progress is not None:
            progress(len(batch))
    return total
