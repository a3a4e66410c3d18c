"""The auditor's input edge: a `Part` of one input file in, `AuditRow` values out, streamed.

Inputs (files or folders, any mix):

- HAR 1.2 (`.har`): read by `trackguard.har` (the reader shared with the learner); each
  page load is keyed by file and page id; cookies, DNT/GPC and bytes come from headers.
- JSON Lines (`.jsonl`, `.ndjson`, optionally `.gz`): objects with `url`, `source_url`,
  `type` and optionally `page` (a page-load key). The corpus log's `origin`
  (`repo:path#entry=N`) also names the page load.
- CSV (`.csv`, optionally `.gz`; one record per line) and Parquet (`.parquet`, needs
  `pyarrow`): same columns.

A `Part` names a piece of one file (`plan.py` cuts them): a byte range of a plain log
aligned to line starts, a line range of a gzipped log, a range of Parquet row groups, or a
whole HAR file. `read_part` reads exactly that piece, wherever it runs (this process or a
Dask worker), so any cut gives the same rows: a byte range reads the lines that start
inside it, a block at a time (split in C, not a `readline` per line).

Bad input never stops an audit (docs/audit.md, "Broken inputs"):

- a bad row (not JSON, no URL, over `MAX_LINE`) is skipped and counted (`ReadStats.skipped`);
- a file that breaks partway (truncated or malformed HAR, corrupt gzip or Parquet, a CSV
  without a `url` column, a HAR over a cap) keeps the rows read before the break and is
  listed in `ReadStats.broken` with the reason. The break is a property of the file, so
  this is the same for every partitioning;
- only a file that cannot be opened at all raises `InputUnreachable` (on a cluster: a
  worker that does not see the path), because a report without it would be wrong.

No classification here.
"""

from __future__ import annotations

import csv
import gzip
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from io import BufferedIOBase
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from trackguard.audit.tally import AuditRow
from trackguard.har import HarEntry, HarError, entry_type, read_har
from trackguard.model import RequestType, TrackguardError

MAX_LINE = 1 << 20  # a log line longer than this is skipped
BLOCK = 1 << 20  # logs are read at most this many bytes at a time
MAX_FIELD = 65_536
HAR_SUFFIXES = (".har",)
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
ALL_SUFFIXES = HAR_SUFFIXES + JSONL_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES
PARQUET_COLUMNS = ("url", "source_url", "type", "page", "origin")
PARQUET_BATCH = 65_536


class AuditInputError(TrackguardError):
    """An input that cannot be audited at all (missing, unknown format, unreadable)."""


class InputUnreachable(AuditInputError):
    """A planned input that cannot be opened where it is read (e.g. not on a worker)."""


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of one input file, read by itself: what a task names instead of its rows.

    `start`/`end` count bytes (`unit="bytes"`: plain JSONL/CSV, both at line starts),
    lines (`"lines"`: gzipped logs, data lines after a CSV header) or Parquet row groups
    (`"row-groups"`); `end=-1` means to the end. A HAR file is always whole (`"file"`).
    """

    path: str  # where to open it (absolute when planned: workers may have another cwd)
    kind: str  # "har", "jsonl", "csv" or "parquet"
    unit: str = "file"
    start: int = 0
    end: int = -1
    name: str = ""  # the path as the user gave it: page keys and reports say this

    @property
    def label(self) -> str:
        return self.name or self.path


@dataclass(slots=True)
class ReadStats:
    files: int = 0
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # rows, by reason
    broken: set[tuple[str, str]] = field(default_factory=set)  # (file, reason)


def kind_of(path: Path) -> str:
    name = path.name.lower()
    for kind, suffixes in (
        ("har", HAR_SUFFIXES),
        ("jsonl", JSONL_SUFFIXES),
        ("csv", CSV_SUFFIXES),
        ("parquet", PARQUET_SUFFIXES),
    ):
        if name.endswith(suffixes):
            return kind
    raise AuditInputError(f"{path}: unknown input format (expected {', '.join(ALL_SUFFIXES)})")


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders expanded to the inputs inside them (sorted, recursive)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(ALL_SUFFIXES)
            )
            if not found:
                raise AuditInputError(f"{path}: no HAR, JSONL, CSV or Parquet files in it")
            out.extend(found)
        elif path.is_file():
            kind_of(path)
            out.append(path)
        else:
            raise AuditInputError(f"{path}: no such file or folder")
    return out


def _signal(entry: HarEntry, name: str) -> bool:
    return (entry.request_header(name) or "").strip() == "1"


def _unreachable(path: str, exc: OSError) -> InputUnreachable:
    return InputUnreachable(f"{path}: cannot open: {exc.strerror or exc}")


def _check_open(path: str) -> None:
    """Raise `InputUnreachable` unless the file opens here (missing, no permission, ...)."""
    try:
        open(path, "rb").close()
    except OSError as exc:
        raise _unreachable(path, exc) from exc


def _har_rows(part: Part, stats: ReadStats) -> Iterator[AuditRow]:
    """The entries of one HAR file as rows (`blob:`, `data:` and `about:` entries skipped)."""
    path, name = part.path, part.label
    _check_open(path)
    try:
        for item in read_har(path):
            if not isinstance(item, HarEntry):
                continue
            if not item.url.startswith(("http://", "https://", "ws://", "wss://")):
                stats.skipped["not-a-web-url"] += 1
                continue
            stats.rows += 1
            yield AuditRow(
                page=f"{name}#{item.pageref or ''}",  # the whole path: two folders may
                url=item.url,  # both hold an `index.har`
                source_url=item.page_url,
                type=entry_type(item),
                detailed=True,
                bytes=item.body_size,
                cookies_sent=bool(item.request_cookies)
                or item.request_header("cookie") is not None,
                cookies_set=bool(item.response_cookies)
                or item.response_header("set-cookie") is not None,
                dnt=_signal(item, "dnt"),
                gpc=_signal(item, "sec-gpc"),
            )
    except HarError as exc:
        stats.broken.add((name, str(exc).removeprefix(f"{path}: ")))


#: `RequestType.parse` of the names logs write (`script`, `image`, ...), looked up as
#: they come; other spellings (`" XHR "`, `main_frame`) go through `parse`.
_TYPES: dict[str, RequestType] = {
    name: RequestType.parse(name) for name in (t.name.lower() for t in RequestType if t.name)
}


def row_from_record(record: Mapping[str, Any]) -> AuditRow | None:
    """A log record as a row, or None when it has no usable URL.

    The page key is `page`, else `origin` before its `#entry=` (the corpus log), else
    the page URL. Called once per log line: written out flat (no helper calls, one
    dict lookup for the usual type names), as it costs as much as decoding the line.
    """
    url = record.get("url")
    if not isinstance(url, str) or not url or len(url) > MAX_FIELD:
        return None
    source = record.get("source_url")
    if not isinstance(source, str) or not source or len(source) > MAX_FIELD:
        source = None
    page = record.get("page")
    if not isinstance(page, str) or not page:
        origin = record.get("origin")
        if isinstance(origin, str) and "#entry=" in origin:
            page = origin.rsplit("#entry=", 1)[0][:MAX_FIELD]
        else:
            page = source or ""
    elif len(page) > MAX_FIELD:
        page = page[:MAX_FIELD]
    rtype = record.get("type")
    if isinstance(rtype, str):
        kind = _TYPES.get(rtype) or RequestType.parse(rtype)
    else:
        kind = RequestType.OTHER
    return AuditRow(page, url, source, kind)


def _open_bytes(path: str) -> BufferedIOBase:
    try:
        if path.lower().endswith(".gz"):
            return gzip.GzipFile(path, "rb")
        return open(path, "rb")
    except OSError as exc:
        raise _unreachable(path, exc) from exc


def read_line(handle: BufferedIOBase) -> bytes | None:
    """The next line (with its newline), b"" at the end, None for a line over `MAX_LINE`
    (then read past in bounded steps, never whole)."""
    line = handle.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        while line and not line.endswith(b"\n"):
            line = handle.readline(MAX_LINE)
        return None
    return line


def _line_start(handle: BufferedIOBase, offset: int, first: int) -> int:
    """The first line start at or after `offset` (`first`: where the data starts, itself
    a line start). Planned parts start at line starts already; this makes any byte range
    read the lines that start inside it, wherever it was cut."""
    if offset <= first:
        return first
    handle.seek(offset - 1)
    if handle.read(1) == b"\n":
        return offset
    while True:  # inside a line: read past it in bounded steps
        line = handle.readline(BLOCK)
        if not line or line.endswith(b"\n"):
            return handle.tell()


def _block_lines(read: Callable[[int], bytes], position: int, end: int) -> Iterator[bytes | None]:
    """The lines that `read` hands out that start before byte `end` (`end` < 0: all),
    without their newlines, read a block at a time and split in C; `position` is the
    offset of the first byte `read` gives, a line start.

    Memory stays bounded: a block, plus the unfinished line carried into the next block,
    which is never longer than `MAX_LINE` (a longer line is yielded as None at once and
    read past a block at a time, never held whole).
    """
    rest = b""  # the beginning of a line the blocks read so far have not finished
    while end < 0 or position < end:  # `position`: the offset of `rest`'s first byte
        block = read(BLOCK)
        last = not block
        buffer = rest + block if rest else block
        if end >= 0 and end - position <= len(buffer):
            # the newline ending the last line that starts before `end`: nothing after it
            # belongs to this part
            cut = buffer.find(b"\n", end - position - 1)
            if cut >= 0:
                buffer, last = buffer[: cut + 1], True
        lines: list[bytes] = buffer.split(b"\n")
        rest = lines.pop()  # after the last newline: a line to finish with the next block
        if lines:
            position += len(buffer) - len(rest)
            if len(buffer) > MAX_LINE and max(map(len, lines)) >= MAX_LINE:
                # over the cap with its newline, as `read_line` counts it
                yield from [None if len(line) >= MAX_LINE else line for line in lines]
            else:
                yield from lines
        if last:
            if rest:  # the file's last line, without a newline (a longer one was skipped)
                yield rest
            return
        if len(rest) > MAX_LINE:  # a line too long to keep: skip to its end
            yield None
            position += len(rest)
            rest = b""
            while True:
                block = read(BLOCK)
                if not block:
                    return
                newline = block.find(b"\n")
                if newline >= 0:
                    position += newline + 1
                    rest = block[newline + 1 :]  # may hold whole lines: split next round
                    break
                position += len(block)


def _lines(handle: BufferedIOBase, part: Part, first: int) -> Iterator[bytes | None]:
    """The lines of `part` (`first`: where the data starts, after a CSV header)."""
    if part.unit == "bytes":
        start = _line_start(handle, part.start, first)
        handle.seek(start)
        return _block_lines(handle.read, start, part.end)
    # "lines" (gzip): no way in but from the start. `read1` hands out what one chunk of
    # the compressed stream gives, so a break loses no more lines than `readline` did.
    lines = _block_lines(handle.read1, 0, -1)
    return islice(lines, part.start, None if part.end < 0 else part.end)


#: `_json_record`'s answers for lines that give no value.
_BLANK: Any = object()  # only whitespace: skipped without a count
_BAD: Any = object()  # not JSON: counted as "bad-json"
#: Lines of at most this many brackets go by `orjson` (see `_json_rows`).
FAST_DEPTH = 256


def _json_record(line: bytes) -> Any:
    """The stdlib's reading of one line: the rule `_json_rows` must keep to."""
    text = line.decode("utf-8", "replace")
    if not text.strip():
        return _BLANK
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _BAD


def _json_rows(lines: Iterable[bytes | None], stats: ReadStats) -> Iterator[AuditRow]:
    """The rows of JSON lines (None: a line over `MAX_LINE`), bad lines counted.

    Each line is read as `_json_record` reads it. `orjson` (about 3x faster, and
    straight from bytes) answers first; whenever it refuses a line, `json.loads`
    decides, so what a line gives is always the stdlib's: orjson refuses lone surrogate
    escapes, bad UTF-8 (json reads it replaced), NaN and Infinity, numbers out of a
    double's range, BOMs and blank lines, all of which go to json. Where orjson accepts,
    json accepts too and gives the same strings, keys and containers (the last of
    duplicate keys wins in both); numbers may differ (orjson makes a float of an integer
    over 64 bits) but no row reads a number. Two limits of json that orjson lacks are
    ruled out: an integer with more digits than `sys.get_int_max_str_digits()` (at least
    640) is beyond a double, so orjson refuses it too; and nesting that could exhaust
    json's recursion (orjson allows 1,024 levels) is sent to json by counting brackets
    in lines long enough to hold `FAST_DEPTH` of them.
    """
    fast, refused = orjson.loads, orjson.JSONDecodeError
    skipped = stats.skipped
    record: Any
    for line in lines:
        if line is None:
            skipped["line-too-long"] += 1
            continue
        try:
            record = fast(line)
        except refused:
            record = _json_record(line)
        else:
            if len(line) > FAST_DEPTH and line.count(b"[") + line.count(b"{") > FAST_DEPTH:
                record = _json_record(line)
        if type(record) is dict:  # JSON objects only (orjson and json make plain dicts)
            row = row_from_record(record)
            if row is not None:
                stats.rows += 1
                yield row
                continue
            skipped["no-url"] += 1
        elif record is _BAD:
            skipped["bad-json"] += 1
        elif record is not _BLANK:
            skipped["no-url"] += 1  # JSON, but not an object


def _csv_rows(
    lines: Iterable[bytes | None], header: list[str], stats: ReadStats
) -> Iterator[AuditRow]:
    """The rows of CSV lines by the header's column names, bad lines counted."""
    skipped = stats.skipped
    for line in lines:
        if line is None:
            skipped["line-too-long"] += 1
            continue
        if not line.decode("utf-8", "replace").strip():
            continue
        fields = _csv_fields(line)
        if fields is None:
            skipped["bad-csv"] += 1
            continue
        row = row_from_record(dict(zip(header, fields, strict=False)))
        if row is None:
            skipped["no-url"] += 1
            continue
        stats.rows += 1
        yield row


def _log_rows(part: Part, stats: ReadStats) -> Iterator[AuditRow]:
    """JSONL and CSV (plain or gzipped): one record per line."""
    handle = _open_bytes(part.path)
    try:
        with handle:
            if part.kind != "csv":
                yield from _json_rows(_lines(handle, part, 0), stats)
                return
            line = read_line(handle)
            header = _csv_fields(line) if line else None
            if header is None or "url" not in header:
                stats.broken.add((part.label, "no header row with a `url` column"))
                return
            first = handle.tell()  # data lines are counted after the header
            yield from _csv_rows(_lines(handle, part, first), header, stats)
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt gzip stream
        stats.broken.add((part.label, f"cannot read past a point: {exc}"))


def _csv_fields(line: bytes) -> list[str] | None:
    text = line.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return None


def parquet_file(path: str) -> Any:
    """A `pyarrow.parquet.ParquetFile`; `AuditInputError` when pyarrow is missing."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise AuditInputError(
            f"{path}: reading Parquet needs pyarrow (pip install 'trackguard[audit]')"
        ) from exc
    return pq.ParquetFile(path)


def _parquet_rows(part: Part, stats: ReadStats) -> Iterator[AuditRow]:
    """Row group by row group: a corrupt group is listed and the next one still read."""
    _check_open(part.path)
    try:
        parquet = parquet_file(part.path)
        names = set(parquet.schema_arrow.names)
        groups = parquet.num_row_groups
    except AuditInputError:
        raise
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        stats.broken.add((part.label, f"not a readable Parquet file ({exc})"))
        return
    if "url" not in names:
        stats.broken.add((part.label, "a Parquet log needs a `url` column"))
        return
    columns = [c for c in PARQUET_COLUMNS if c in names]
    end = groups if part.end < 0 else min(part.end, groups)
    for group in range(part.start, end):
        try:
            batches = list(
                parquet.iter_batches(batch_size=PARQUET_BATCH, row_groups=[group], columns=columns)
            )
        except Exception as exc:  # corrupt pages raise pyarrow's own error types
            stats.broken.add((part.label, f"row group {group} unreadable ({exc})"))
            continue
        for batch in batches:
            for record in batch.to_pylist():
                row = row_from_record(record)
                if row is None:
                    stats.skipped["no-url"] += 1
                    continue
                stats.rows += 1
                yield row


def read_part(part: Part, stats: ReadStats | None = None) -> Iterator[AuditRow]:
    """The rows of one part; bad rows and breaks are recorded in `stats` (module doc)."""
    stats = stats if stats is not None else ReadStats()
    if part.kind == "har":
        return _har_rows(part, stats)
    if part.kind == "parquet":
        return _parquet_rows(part, stats)
    return _log_rows(part, stats)


def read_rows(paths: Iterable[Path], stats: ReadStats | None = None) -> Iterator[AuditRow]:
    """All rows of whole files, in order (one process, no planning: tests and tools)."""
    stats = stats if stats is not None else ReadStats()
    for path in paths:
        stats.files += 1
        yield from read_part(Part(str(path), kind_of(path)), stats)
