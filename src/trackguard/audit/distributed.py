"""Run an audit on a Dask cluster: a local one (`workers=N`) or an existing scheduler.

How work moves (and why the figures are exactly those of a local run):

1. The compiled engine travels once: its saved bytes (`Engine.to_bytes`, checksummed) are
   scattered to every worker with `broadcast=True`; each worker process loads them once
   and keeps the engine keyed by the bytes' SHA-256 (`_WORKER_ENGINES`, at most two).
2. This process streams the inputs and submits partitions (compact tuples, not objects)
   with a bounded number in flight, so memory stays flat however large the log is.
3. Each task returns a `Tally` (see `tally.py`: merging is commutative), merged here as
   tasks finish. A task lost with a worker is re-run by the scheduler elsewhere; its
   partition is part of the task, so nothing is counted twice or missed.

dask.distributed is imported lazily: the rest of trackguard works without it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from trackguard.audit.entities import EntityMap
from trackguard.audit.run import PARTITION_ROWS, Progress, partitions
from trackguard.audit.tally import AuditRow, Tally, tally_rows
from trackguard.model import RequestType, TrackguardError

RowTuple = tuple[str, str, str | None, int, bool, int, bool, bool, bool, bool]

#: Engines loaded in this worker process, by the SHA-256 of their bytes. Module state on
#: purpose: it is the per-worker cache that makes "send the engine once" work; bounded.
_WORKER_ENGINES: dict[str, Any] = {}


class DaskUnavailable(TrackguardError):
    """`--workers`/`--dask` asked for, but dask.distributed is not installed or reachable."""


def pack(rows: list[AuditRow]) -> list[RowTuple]:
    """Rows as plain tuples: several times cheaper to pickle than dataclass instances.

    Page keys and page URLs repeat within a partition; interning them lets pickle write
    each once and refer back to it (pickle memoises by object identity).
    """
    interned: dict[str, str] = {}
    intern = interned.setdefault
    out: list[RowTuple] = []
    for r in rows:
        source = intern(r.source_url, r.source_url) if r.source_url is not None else None
        out.append(
            (
                intern(r.page, r.page),
                r.url,
                source,
                int(r.type),
                r.detailed,
                r.bytes,
                r.cookies_sent,
                r.cookies_set,
                r.dnt,
                r.gpc,
            )
        )
    return out


def unpack(rows: Iterable[RowTuple]) -> list[AuditRow]:
    types = {int(t): t for t in RequestType}
    return [
        AuditRow(p, u, s, types.get(t, RequestType.OTHER), d, b, cs, ct, dnt, gpc)
        for p, u, s, t, d, b, cs, ct, dnt, gpc in rows
    ]


def _worker_engine(key: str, data: bytes) -> Any:
    engine = _WORKER_ENGINES.get(key)
    if engine is None:
        from trackguard.engine import Engine

        engine = Engine.from_bytes(data)
        if len(_WORKER_ENGINES) >= 2:
            _WORKER_ENGINES.clear()
        _WORKER_ENGINES[key] = engine
    return engine


def tally_partition(
    key: str, engine_bytes: bytes, entities: EntityMap | None, rows: list[RowTuple]
) -> Tally:
    """The task each worker runs: one partition, classified with the batch API."""
    return tally_rows(unpack(rows), _worker_engine(key, engine_bytes), entities)


def audit_on_dask(
    rows: Iterable[AuditRow],
    engine_bytes: bytes,
    entities: EntityMap | None = None,
    *,
    address: str | None = None,
    workers: int = 2,
    partition_rows: int = PARTITION_ROWS,
    progress: Progress | None = None,
    on_client: Callable[[Any], None] | None = None,
) -> Tally:
    """Audit `rows` on a cluster; the same `Tally` as `run.audit_rows` on one process."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DaskUnavailable(
            "--workers/--dask need dask.distributed: pip install 'trackguard[audit]'"
        ) from exc
    cluster = None
    try:
        if address is None:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
            client = Client(cluster)
        else:
            client = Client(address, timeout=30)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise DaskUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    total = Tally()
    try:
        if on_client is not None:
            on_client(client)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        key = hashlib.sha256(engine_bytes).hexdigest()
        engine_future = client.scatter(engine_bytes, broadcast=True, hash=False)
        entities_future = client.scatter(entities, broadcast=True, hash=False) if entities else None
        done = as_completed()
        limit = 2 * n_workers + 2  # enough to keep workers busy, bounded memory here
        sizes: dict[str, int] = {}

        def collect(future: Any) -> None:
            total.merge(future.result())
            if progress is not None:
                progress(sizes.pop(str(future.key), 0))
            future.release()

        for batch in partitions(rows, partition_rows):
            future = client.submit(
                tally_partition,
                key,
                engine_future,
                entities_future,
                pack(batch),
                pure=False,
                retries=2,
            )
            sizes[str(future.key)] = len(batch)
            done.add(future)
            while done.count() >= limit:
                collect(next(done))
        for future in done:
            collect(future)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return total
