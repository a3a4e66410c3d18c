"""The compiled engine's file format: magic, format version, checksum, payload.

Layout (all integers big-endian)::

    +--------------------+---------+------------------+------------------------+
    | magic (16 bytes)   | u32 fmt | sha256 (32 bytes)| payload (marshal)      |
    | b"TRACKGUARD-ENG\\0\\n"|         | of the payload   | (key, rows, indexes, …)|
    +--------------------+---------+------------------+------------------------+

`marshal` is used because it reads plain tuples/dicts/frozensets back at C speed, and the
index is made of nothing else. It is not safe against crafted input, which is why the
checksum is verified before a single payload byte is decoded: a truncated, corrupted or
foreign file is refused with `CacheError`, and the caller rebuilds from the lists.
"""

from __future__ import annotations

import hashlib
import marshal
import struct
from pathlib import Path
from typing import Any

from trackguard.files import save_atomic
from trackguard.model import TrackguardError

MAGIC = b"TRACKGUARD-ENG\0\n"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">16sI32s")


class CacheError(TrackguardError):
    """A compiled-engine file that cannot be trusted: stale, corrupt or foreign."""


def encode(payload: Any) -> bytes:
    body = marshal.dumps(payload)
    return _HEADER.pack(MAGIC, FORMAT_VERSION, hashlib.sha256(body).digest()) + body


def decode(data: bytes) -> Any:
    if len(data) < _HEADER.size:
        raise CacheError("engine cache is truncated")
    magic, version, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CacheError("not a trackguard engine cache")
    if version != FORMAT_VERSION:
        raise CacheError(f"engine cache format {version}, this version reads {FORMAT_VERSION}")
    body = memoryview(data)[_HEADER.size :]
    if hashlib.sha256(body).digest() != digest:
        raise CacheError("engine cache checksum mismatch (corrupt or truncated)")
    try:
        return marshal.loads(body)
    except (ValueError, EOFError, TypeError) as exc:
        raise CacheError(f"engine cache payload unreadable: {exc}") from exc


def save_bytes(path: Path, data: bytes) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    save_atomic(path, data)


def load_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CacheError(f"cannot read engine cache {path}: {exc.strerror}") from exc
