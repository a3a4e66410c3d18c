"""The auditor's input edge: HAR files and request logs in, `AuditRow` values out, streamed.

Inputs (files or folders, any mix):

- HAR 1.2 (`.har`): read by `trackguard.har` (the reader shared with the learner); each
  page load is keyed by file and page id; cookies, DNT/GPC and bytes come from headers.
- JSON Lines (`.jsonl`, `.ndjson`, optionally `.gz`): objects with `url`, `source_url`,
  `type` and optionally `page` (a page-load key). The corpus log's `origin`
  (`repo:path#entry=N`) also names the page load.
- CSV (`.csv`, optionally `.gz`) and Parquet (`.parquet`, needs `pyarrow`): same columns.

Nothing is loaded whole: files are read line by line, Parquet by record batch. A bad row is
skipped and counted (`ReadStats`); a file that cannot be read at all raises `AuditInputError`
naming it. No classification here.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from trackguard.audit.tally import AuditRow
from trackguard.har import HarEntry, HarError, entry_type, read_har
from trackguard.model import RequestType, TrackguardError

MAX_LINE = 1 << 20  # a log line longer than this is skipped
MAX_FIELD = 65_536
HAR_SUFFIXES = (".har",)
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
ALL_SUFFIXES = HAR_SUFFIXES + JSONL_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES


class AuditInputError(TrackguardError):
    """An input that cannot be audited at all (missing, unknown format, unreadable)."""


@dataclass(slots=True)
class ReadStats:
    files: int = 0
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def _kind(path: Path) -> str:
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
            _kind(path)
            out.append(path)
        else:
            raise AuditInputError(f"{path}: no such file or folder")
    return out


def _signal(entry: HarEntry, name: str) -> bool:
    return (entry.request_header(name) or "").strip() == "1"


def har_rows(path: Path, stats: ReadStats | None = None) -> Iterator[AuditRow]:
    """The entries of one HAR file as rows (`blob:`, `data:` and `about:` entries skipped)."""
    stats = stats if stats is not None else ReadStats()
    stats.files += 1
    name = str(path)  # the whole path: two folders may both hold an `index.har`
    for item in read_har(path):
        if not isinstance(item, HarEntry):
            continue
        if not item.url.startswith(("http://", "https://", "ws://", "wss://")):
            stats.skipped["not-a-web-url"] += 1
            continue
        stats.rows += 1
        yield AuditRow(
            page=f"{name}#{item.pageref or ''}",
            url=item.url,
            source_url=item.page_url,
            type=entry_type(item),
            detailed=True,
            bytes=item.body_size,
            cookies_sent=bool(item.request_cookies) or item.request_header("cookie") is not None,
            cookies_set=bool(item.response_cookies)
            or item.response_header("set-cookie") is not None,
            dnt=_signal(item, "dnt"),
            gpc=_signal(item, "sec-gpc"),
        )


def _text(path: Path) -> IO[str]:
    try:
        if path.name.lower().endswith(".gz"):
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
        return open(path, encoding="utf-8", errors="replace", newline="")
    except OSError as exc:
        raise AuditInputError(f"{path}: cannot open: {exc.strerror or exc}") from exc


def _page_key(record: Mapping[str, Any], source: str | None) -> str:
    page = record.get("page")
    if isinstance(page, str) and page:
        return page[:MAX_FIELD]
    origin = record.get("origin")
    if isinstance(origin, str) and "#entry=" in origin:
        return origin.rsplit("#entry=", 1)[0][:MAX_FIELD]
    return source or ""


def row_from_record(record: Mapping[str, Any]) -> AuditRow | None:
    """A log record as a row, or None when it has no usable URL."""
    url = record.get("url")
    if not isinstance(url, str) or not url or len(url) > MAX_FIELD:
        return None
    source = record.get("source_url")
    if not isinstance(source, str) or not source or len(source) > MAX_FIELD:
        source = None
    rtype = record.get("type")
    return AuditRow(
        page=_page_key(record, source),
        url=url,
        source_url=source,
        type=RequestType.parse(rtype) if isinstance(rtype, str) else RequestType.OTHER,
    )


def jsonl_rows(path: Path, stats: ReadStats | None = None) -> Iterator[AuditRow]:
    stats = stats if stats is not None else ReadStats()
    stats.files += 1
    with _text(path) as handle:
        try:
            while True:
                line = handle.readline(MAX_LINE + 1)
                if not line:
                    break
                if len(line) > MAX_LINE:
                    stats.skipped["line-too-long"] += 1
                    while line and not line.endswith("\n"):  # skip the rest of the line
                        line = handle.readline(MAX_LINE)
                    continue
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):
                    stats.skipped["bad-json"] += 1
                    continue
                row = row_from_record(record) if isinstance(record, dict) else None
                if row is None:
                    stats.skipped["no-url"] += 1
                    continue
                stats.rows += 1
                yield row
        except (OSError, EOFError, zlib.error) as exc:
            raise AuditInputError(f"{path}: cannot read: {exc}") from exc


def csv_rows(path: Path, stats: ReadStats | None = None) -> Iterator[AuditRow]:
    stats = stats if stats is not None else ReadStats()
    stats.files += 1
    csv.field_size_limit(MAX_LINE)
    with _text(path) as handle:
        try:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "url" not in reader.fieldnames:
                raise AuditInputError(f"{path}: a CSV log needs a header row with a `url` column")
            for record in reader:
                row = row_from_record(record)
                if row is None:
                    stats.skipped["no-url"] += 1
                    continue
                stats.rows += 1
                yield row
        except csv.Error as exc:
            raise AuditInputError(f"{path}: not valid CSV ({exc})") from exc
        except (OSError, EOFError, zlib.error) as exc:
            raise AuditInputError(f"{path}: cannot read: {exc}") from exc


def parquet_rows(
    path: Path, stats: ReadStats | None = None, batch_size: int = 65_536
) -> Iterator[AuditRow]:
    stats = stats if stats is not None else ReadStats()
    stats.files += 1
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise AuditInputError(
            f"{path}: reading Parquet needs pyarrow (pip install 'trackguard[audit]')"
        ) from exc
    try:
        parquet = pq.ParquetFile(path)
        names = set(parquet.schema_arrow.names)
        if "url" not in names:
            raise AuditInputError(f"{path}: a Parquet log needs a `url` column")
        columns = [c for c in ("url", "source_url", "type", "page", "origin") if c in names]
        for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
            for record in batch.to_pylist():
                row = row_from_record(record)
                if row is None:
                    stats.skipped["no-url"] += 1
                    continue
                stats.rows += 1
                yield row
    except AuditInputError:
        raise
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise AuditInputError(f"{path}: not a readable Parquet file ({exc})") from exc


def read_rows(paths: Iterable[Path], stats: ReadStats | None = None) -> Iterator[AuditRow]:
    """All rows of all inputs, in order; HAR errors become `AuditInputError` naming the file."""
    stats = stats if stats is not None else ReadStats()
    readers = {"har": har_rows, "jsonl": jsonl_rows, "csv": csv_rows, "parquet": parquet_rows}
    for path in paths:
        try:
            yield from readers[_kind(path)](path, stats)
        except HarError as exc:
            raise AuditInputError(str(exc)) from exc
