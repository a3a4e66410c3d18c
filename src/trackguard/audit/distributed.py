"""Run an audit on a Dask cluster: a local one (`workers=N`) or an existing scheduler.

How work moves (and why the figures are exactly those of a local run):

1. This process only plans (`plan.py`): each task names parts of input files (byte
   ranges, line ranges, Parquet row groups, HAR files), a few hundred bytes, never rows.
2. The compiled engine travels once: its saved bytes (`Engine.to_bytes`, checksummed) are
   scattered to every worker with `broadcast=True`; each worker process loads them once
   and keeps the engine keyed by the bytes' SHA-256 (`_WORKER_ENGINES`, at most two).
3. Each worker reads its parts itself and classifies them with the batch API
   (`run.tally_task`, the code a one-process run uses), and returns its partial `Tally`
   packed into msgpack bytes (`packed.py`): bytes cross the cluster without Dask's
   per-object work, and this process merges them as tasks finish, without rebuilding
   the partial's objects (merging is commutative: `tally.py`). A task lost with a
   worker is re-run by the scheduler elsewhere; its parts are part of the task, so nothing
   is counted twice or missed.

Workers open the input paths themselves: on a remote cluster every path must be visible
to every worker under the same name (a shared filesystem). A worker that cannot open one
fails the audit with a message saying so (`InputUnreachable`), never a partial report.

dask.distributed is imported lazily: the rest of trackguard works without it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from trackguard.audit.entities import EntityMap
from trackguard.audit.packed import dumps, loads, merge_packed
from trackguard.audit.plan import Task
from trackguard.audit.readers import InputUnreachable
from trackguard.audit.run import PARTITION_ROWS, Progress, tally_task
from trackguard.audit.tally import REQUESTS, Memo, Tally
from trackguard.model import TrackguardError

#: Engines loaded in this worker process (with their host memo, `tally.Memo`), by the
#: SHA-256 of their bytes. Module state on purpose: it is the per-worker cache that makes
#: "send the engine once" work; bounded.
_WORKER_ENGINES: dict[str, tuple[Any, Memo]] = {}


class DaskUnavailable(TrackguardError):
    """`--workers`/`--dask` asked for, but dask.distributed is not installed or reachable."""


def _worker_engine(key: str, data: bytes) -> tuple[Any, Memo]:
    loaded = _WORKER_ENGINES.get(key)
    if loaded is None:
        from trackguard.engine import Engine

        if len(_WORKER_ENGINES) >= 2:
            _WORKER_ENGINES.clear()
        loaded = _WORKER_ENGINES[key] = (Engine.from_bytes(data), Memo())
    return loaded


def run_task(
    key: str, engine_bytes: bytes, entities: EntityMap | None, parts: Task, batch_rows: int
) -> bytes:
    """The task each worker runs: read its parts, classify them, return the partial tally
    (packed into msgpack bytes: `packed.py`)."""
    engine, memo = _worker_engine(key, engine_bytes)
    try:
        return dumps(tally_task(parts, engine, entities, batch_rows=batch_rows, memo=memo))
    except InputUnreachable as exc:
        import socket

        raise InputUnreachable(
            f"{exc} (on worker host {socket.gethostname()}: on a cluster every input path "
            "must be visible to the workers under the same name, e.g. a shared filesystem)"
        ) from None


#: Dask settings for the local clusters made here. The statistical profiler (a stack
#: sample every 10 ms in each worker) is off, and the event-loop health tick (20 ms), the
#: system monitor (500 ms) and the memory monitors (100 ms) run less often: nobody looks
#: at them during an audit, and on a 2-core machine they took ~40% of the client's CPU
#: time (the scheduler and the workers' nannies live in this process) and some of each
#: worker's. The memory limits still hold, checked every half second.
QUIET_LOCAL_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1000ms",
    "distributed.admin.system-monitor.interval": "5000ms",
    "distributed.worker.memory.monitor-interval": "500ms",
}


def local_cluster(workers: int) -> Any:
    """A local cluster of `workers` processes with one thread each: classification is
    pure Python and holds the GIL. Quiet (`QUIET_LOCAL_CLUSTER`)."""
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set(QUIET_LOCAL_CLUSTER):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        )


def _client(address: str | None, workers: int) -> tuple[Any, Any, bool]:
    """The client to audit with, the local cluster made for it (or None), and whether
    the client is ours to close.

    A caller's own default client on the same scheduler is used as it is: a second
    client beside a default one got every result ~1.5 s late (a 1M-row audit's cluster
    phase took 10 s instead of 6.6 s; the cause is inside Dask, not found)."""
    try:
        from dask.distributed import Client, default_client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DaskUnavailable(
            "--workers/--dask need dask.distributed: pip install 'trackguard[audit]'"
        ) from exc
    if address is not None:
        try:
            current = default_client()
        except ValueError:  # no default client in this process
            current = None
        if (
            current is not None
            and current.status == "running"
            and getattr(current.scheduler, "address", None) == address
        ):
            return current, None, False
    cluster = None
    try:
        if address is None:
            cluster = local_cluster(workers)
            return Client(cluster), cluster, True
        return Client(address, timeout=30), None, True
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise DaskUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


def audit_on_dask(
    tasks: Sequence[Task],
    engine_bytes: bytes,
    entities: EntityMap | None = None,
    *,
    address: str | None = None,
    workers: int = 2,
    partition_rows: int = PARTITION_ROWS,
    progress: Progress | None = None,
    on_client: Callable[[Any], None] | None = None,
) -> Tally:
    """Audit the planned tasks on a cluster; the same `Tally` as `run.audit_tasks`."""
    from dask.distributed import as_completed

    client, cluster, owned = _client(address, workers)
    total = Tally()
    try:
        if on_client is not None:
            on_client(client)
        key = hashlib.sha256(engine_bytes).hexdigest()
        engine_future = client.scatter(engine_bytes, broadcast=True, hash=False)
        entities_future = client.scatter(entities, broadcast=True, hash=False) if entities else None
        futures = [
            client.submit(
                run_task,
                key,
                engine_future,
                entities_future,
                task,
                partition_rows,
                pure=False,
                retries=2,
            )
            for task in tasks
        ]
        for future in as_completed(futures):
            try:
                blob: bytes = future.result()
            except TrackguardError:
                raise
            except Exception as exc:  # e.g. KilledWorker after the retries: say so plainly
                name = type(exc).__name__
                raise DaskUnavailable(f"the Dask cluster failed: {name}: {exc}") from exc
            future.release()
            packed = loads(blob)
            merge_packed(total, packed)
            if progress is not None:
                progress(packed[0][REQUESTS] + sum(packed[6].values()))
    finally:
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()
    return total
