"""Auditor benchmark: rows/s in one process and on a local Dask cluster, in one run.

    python benchmarks/audit.py [--rows 1000000] [--workers 2] [--partition-rows 20000]

The real request log (64,295 rows) is repeated to `--rows` rows (each copy with its own
page keys, so pages and sites are counted as in a log that large). Measured, in order:

* engine: `Engine.check` on every subresource row, one call each: the per-request cost
  of the engine benchmark (`benchmarks/engine.py`), measured here on the same rows and
  the same machine load so the two can be compared;
* classify: `tally_rows` on the rows in memory, partition by partition (batch API +
  count into the running tally, as `audit_rows` does): the audit's own cost per row,
  compared with the engine's per-request cost (also with the engine loop's GC paused,
  since `tally_rows` pauses it for its batches). Engine and audit are timed interleaved,
  partition by partition, so both see the same load;
* one process: the repeated log written as plain JSON Lines (not timed), then the engine
  loaded from its bytes, and the log planned, read, classified and counted here
  (`audit_tasks`): what `trackguard audit LOG` does. A freshly loaded engine, as each
  worker has: the engine used above has warmed its lazily prepared indexes already;
* cluster: the same plan on a local cluster of `--workers` worker processes (one thread
  each, made as `--workers` makes it: `distributed.local_cluster`) that read their own
  byte ranges (`audit_on_dask`), timed from planning to the merged tally (the engine's
  bytes sent to the workers and loaded there included); starting the cluster is
  reported apart;
* the three reports are compared (they must be identical).

CPU time (`time.process_time`, and the workers' own via `client.run`) is reported beside
wall time: on a busy machine wall time mostly measures the neighbours, while CPU time per
row still says what a run costs. On Linux, `*_others_cpu_s` is the CPU time the rest of
the machine used during the one-process and the cluster phase (`/proc/stat` minus ours).
`cluster_cpu_bound_speedup` is the one-process run's CPU time divided by the busiest
cluster process's CPU time: the speedup with a free core each.
Ratios matter more than absolute numbers: on a shared machine other processes take CPU
time from every run.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))

from trackguard.audit.distributed import audit_on_dask, local_cluster  # noqa: E402
from trackguard.audit.plan import plan_inputs  # noqa: E402
from trackguard.audit.readers import row_from_record  # noqa: E402
from trackguard.audit.report import build_report  # noqa: E402
from trackguard.audit.run import audit_tasks, partitions  # noqa: E402
from trackguard.audit.tally import AuditRow, Memo, Tally, tally_rows  # noqa: E402
from trackguard.engine import Engine  # noqa: E402
from trackguard.model import RequestType  # noqa: E402


def machine_busy_s() -> float | None:
    """CPU seconds all processes of this machine have used since boot (Linux `/proc/stat`),
    or None elsewhere: minus our own processes' CPU time over a phase, it says how much
    the neighbours took during it (on a shared machine that decides the wall-clock
    figures: a neighbour on one of two cores halves what two workers can do)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def shared() -> Path:
    return Path(os.environ.get("TRACKGUARD_SHARED", REPO_ROOT.parent / "shared")) / "corpus"


def load_log(corpus: Path) -> list[AuditRow]:
    rows = []
    with gzip.open(corpus / "requests" / "real-requests.jsonl.gz", "rt") as handle:
        for line in handle:
            row = row_from_record(json.loads(line))
            if row is not None:
                rows.append(row)
    return rows


def repeated(rows: list[AuditRow], total: int) -> Iterator[AuditRow]:
    made = 0
    copy = 0
    while made < total:
        for row in rows:
            if made >= total:
                return
            yield (
                row
                if copy == 0
                else AuditRow(f"{row.page}#{copy}", row.url, row.source_url, row.type)
            )
            made += 1
        copy += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partition-rows", type=int, default=20_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    corpus = shared()
    lists = corpus / "lists"
    engine = Engine.from_files([lists / "easylist.txt", lists / "easyprivacy.txt"])
    base = load_log(corpus)
    rows = list(repeated(base, args.rows))
    # Engine and audit are timed partition by partition, interleaved, so that both see
    # the same machine load (on a shared machine load changes within seconds).
    batches = list(partitions(rows, args.partition_rows))
    questions = [
        [(r.url, r.source_url, r.type) for r in batch if r.type is not RequestType.DOCUMENT]
        for batch in batches
    ]
    subresources = sum(map(len, questions))
    check = engine.check
    engine_s = engine_cpu = engine_nogc_cpu = classify_s = classify_cpu = 0.0
    in_memory = Tally()
    memo = Memo()
    for batch, asked in zip(batches, questions, strict=True):
        start, cpu = time.perf_counter(), time.process_time()
        for url, source, rtype in asked:
            check(url, source, rtype)
        engine_s += time.perf_counter() - start
        engine_cpu += time.process_time() - cpu
        # The same with the cyclic GC paused, as `tally_rows` pauses it for its batches:
        # the stricter base for the audit's cost (the engine benchmark leaves GC on).
        gc.disable()
        cpu = time.process_time()
        for url, source, rtype in asked:
            check(url, source, rtype)
        engine_nogc_cpu += time.process_time() - cpu
        gc.enable()
        start, cpu = time.perf_counter(), time.process_time()
        tally_rows(batch, engine, None, memo, into=in_memory)
        classify_s += time.perf_counter() - start
        classify_cpu += time.process_time() - cpu
    del batches, questions

    folder = Path(tempfile.mkdtemp(prefix="trackguard-audit-bench-"))
    log = folder / "log.jsonl"
    with open(log, "w", encoding="utf-8") as handle:
        for r in rows:
            record = {"url": r.url, "source_url": r.source_url, "type": r.type.name.lower()}
            handle.write(json.dumps({**record, "page": r.page}) + "\n")
    del rows

    engine_bytes = engine.to_bytes()
    busy = machine_busy_s()
    start, cpu = time.perf_counter(), time.process_time()
    single = audit_tasks(
        plan_inputs([log], args.partition_rows),
        Engine.from_bytes(engine_bytes),
        partition_rows=args.partition_rows,
    )
    single_s, single_cpu = time.perf_counter() - start, time.process_time() - cpu
    single_busy = machine_busy_s()

    from dask.distributed import Client

    start = time.perf_counter()
    cluster = local_cluster(args.workers)
    startup_s = time.perf_counter() - start
    address = cluster.scheduler_address
    # This process's own client only reads the workers' CPU times: it must not be the
    # default client while the audit's runs (an outer default client held every result
    # back by ~1.5 s and the cluster phase took 10 s instead of 6.5 s; `trackguard audit
    # --workers` has no such client).
    with Client(address, set_as_default=False) as client:
        client.run(lambda: __import__("trackguard.audit.run"))  # imports before timing
        before = client.run(time.process_time)
        cluster_busy = machine_busy_s()
        start, cpu = time.perf_counter(), time.process_time()
        tasks = plan_inputs([log], args.partition_rows)
        on_cluster = audit_on_dask(
            tasks, engine_bytes, address=address, partition_rows=args.partition_rows
        )
        cluster_s, client_cpu = time.perf_counter() - start, time.process_time() - cpu
        cluster_busy_after = machine_busy_s()
        after = client.run(time.process_time)
    cluster.close()
    shutil.rmtree(folder)
    worker_cpu = [after[w] - before[w] for w in after]
    others = {}
    if None not in (busy, single_busy, cluster_busy, cluster_busy_after):
        assert busy is not None and single_busy is not None  # for mypy
        assert cluster_busy is not None and cluster_busy_after is not None
        # CPU time the rest of the machine used during each phase (the neighbours)
        others = {
            "single_others_cpu_s": round(max(0.0, single_busy - busy - single_cpu), 1),
            "cluster_others_cpu_s": round(
                max(0.0, cluster_busy_after - cluster_busy - client_cpu - sum(worker_cpu)), 1
            ),
        }

    reference = json.dumps(build_report(in_memory))
    same = reference == json.dumps(build_report(single)) == json.dumps(build_report(on_cluster))
    per_request = engine_cpu / subresources
    n = args.rows
    figures = {
        "rows": n,
        "subresource_rows": subresources,
        "engine_check_cpu_us_per_request": round(per_request * 1e6, 2),
        "engine_check_wall_us_per_request": round(engine_s / subresources * 1e6, 2),
        "classify_cpu_us_per_row": round(classify_cpu / n * 1e6, 2),
        "classify_cpu_cost_vs_engine": round((classify_cpu / n) / per_request, 2),
        "engine_check_cpu_us_per_request_gc_paused": round(engine_nogc_cpu / subresources * 1e6, 2),
        "classify_cpu_cost_vs_engine_gc_paused": round(
            (classify_cpu / n) / (engine_nogc_cpu / subresources), 2
        ),
        "classify_rows_per_s": round(n / classify_s),
        "single_rows_per_s": round(n / single_s),
        "single_cpu_us_per_row": round(single_cpu / n * 1e6, 2),
        "cluster_workers": args.workers,
        "cluster_tasks": len(tasks),
        "cluster_startup_s": round(startup_s, 1),
        "cluster_rows_per_s": round(n / cluster_s),
        "cluster_wall_speedup": round(single_s / cluster_s, 2),
        "cluster_worker_cpu_s": [round(c, 1) for c in worker_cpu],
        "cluster_client_cpu_s": round(client_cpu, 1),
        # what the wall-clock speedup would be if each process had a core of its own
        "cluster_cpu_bound_speedup": round(single_cpu / max(*worker_cpu, client_cpu), 2),
        "single_cpu_s": round(single_cpu, 1),
        "single_wall_s": round(single_s, 1),
        "cluster_wall_s": round(cluster_s, 1),
        **others,
        "identical_reports": same,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
