"""Cut the inputs into parts that workers read by themselves (`readers.Part`).

The client only looks at sizes and metadata; rows are read where they are classified.
Each task gets about `partition_rows` rows:

- plain JSONL/CSV: byte ranges, the average line length estimated from the first MiB, each
  boundary moved forward to the next line start (a seek and one line read per boundary);
- gzipped JSONL/CSV: line ranges. Gzip cannot be entered in the middle, so the lines are
  counted here (decompressing once) and a worker decompresses from the start up to its
  range: at most `MAX_GZIP_PARTS` parts per file bound that repeated work. For large logs
  on a cluster, plain JSONL or Parquet split without that cost;
- Parquet: ranges of whole row groups (from the footer);
- HAR files: whole files (a page load needs its file's page list), grouped into tasks of
  about `partition_rows` entries by size.

Parts open absolute paths (a worker's working folder may differ) and keep the path as
given for page keys and messages. A file whose metadata cannot be read here is planned as
one whole part, so the worker meets the same problem and lists the file as broken
(`readers`), as a one-process run does. Any plan gives the same report: parts never
overlap and together cover every line, row group and file once.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from trackguard.audit.readers import AuditInputError, Part, kind_of, parquet_file, read_line

#: Bytes of HAR per entry, measured on the 841 real corpus files (290 MB, 64,295 entries).
HAR_BYTES_PER_ENTRY = 4_500
SAMPLE_BYTES = 1 << 20
MAX_GZIP_PARTS = 32

Task = tuple[Part, ...]


def _line_start_after(path: str, offset: int) -> int:
    """The first line start at or after `offset` (the file's length if there is none)."""
    with open(path, "rb") as handle:
        handle.seek(offset - 1)
        if handle.read(1) == b"\n":
            return offset
        while True:
            line = handle.readline(SAMPLE_BYTES)
            if not line or line.endswith(b"\n"):
                return handle.tell()


def _byte_parts(path: str, kind: str, partition_rows: int) -> list[Part]:
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if kind == "csv":
            read_line(handle)  # the header line is not data
        data_start = handle.tell()
        sample = handle.read(SAMPLE_BYTES)
    lines = sample.count(b"\n")
    if not lines:
        return [Part(path, kind, "bytes", data_start, -1)]
    step = max(1, len(sample) // lines * partition_rows)
    bounds = [data_start]
    while bounds[-1] + step < size:
        nxt = _line_start_after(path, bounds[-1] + step)
        if nxt >= size:
            break
        bounds.append(nxt)
    ends = [*bounds[1:], -1]
    return [Part(path, kind, "bytes", a, b) for a, b in zip(bounds, ends, strict=True)]


def _count_lines(path: str) -> int:
    """Newlines of a gzipped file (decompressed in bounded chunks, never whole)."""
    import gzip

    count = 0
    try:
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                count += chunk.count(b"\n")
    except (OSError, EOFError, zlib.error):
        pass  # planned up to the break; the last part meets it and reports it
    return count


def _gzip_parts(path: str, kind: str, partition_rows: int) -> list[Part]:
    lines = _count_lines(path) - (1 if kind == "csv" else 0)
    parts = min(MAX_GZIP_PARTS, max(1, -(-lines // partition_rows)))
    step = max(1, -(-lines // parts))
    bounds = list(range(0, max(lines, 1), step))
    ends = [*bounds[1:], -1]
    return [Part(path, kind, "lines", a, b) for a, b in zip(bounds, ends, strict=True)]


def _parquet_parts(path: str, partition_rows: int) -> list[Part]:
    try:
        metadata = parquet_file(path).metadata
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    except AuditInputError:
        raise
    except Exception:  # corrupt: the worker reads it and says why
        return [Part(path, "parquet", "row-groups", 0, -1)]
    parts: list[Part] = []
    start = rows = 0
    for group, n in enumerate(sizes):
        rows += n
        if rows >= partition_rows:
            parts.append(Part(path, "parquet", "row-groups", start, group + 1))
            start, rows = group + 1, 0
    if start < len(sizes) or not parts:
        parts.append(Part(path, "parquet", "row-groups", start, -1))
    return parts


def plan_inputs(files: Iterable[Path], partition_rows: int) -> list[Task]:
    """Tasks (tuples of parts) covering every input once, in input order."""
    tasks: list[Task] = []
    hars: list[Part] = []
    har_bytes = 0
    budget = partition_rows * HAR_BYTES_PER_ENTRY

    def flush() -> None:
        nonlocal hars, har_bytes
        if hars:
            tasks.append(tuple(hars))
        hars, har_bytes = [], 0

    for file in files:
        path, kind = os.path.abspath(file), kind_of(file)
        try:
            if kind == "har":
                size = os.path.getsize(path)
                if hars and har_bytes + size > budget:
                    flush()
                hars.append(Part(path, "har", name=str(file)))
                har_bytes += size
                continue
            flush()
            if kind == "parquet":
                parts = _parquet_parts(path, partition_rows)
            elif path.lower().endswith(".gz"):
                parts = _gzip_parts(path, kind, partition_rows)
            else:
                parts = _byte_parts(path, kind, partition_rows)
        except OSError as exc:
            raise AuditInputError(f"{path}: cannot open: {exc.strerror or exc}") from exc
        tasks.extend((replace(part, name=str(file)),) for part in parts)
    flush()
    return tasks
