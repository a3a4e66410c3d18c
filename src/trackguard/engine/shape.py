"""Shape check of a loaded engine cache, run after the checksum and before any use.

The checksum proves the file is the one that was written, not that what was written is
sound: a file with emptied indexes would allow everything while `lists` still counted
450,000 rules, and one without an index made the proxy die with a `KeyError`. Every
container, every compiled filter and every count is checked here; anything off raises
`CacheError`, which callers treat as a stale cache (rebuild from the lists). Pure.
"""

from __future__ import annotations

from itertools import chain, compress, repeat
from operator import itemgetter
from typing import Any

from trackguard.engine.compiler import CATEGORIES
from trackguard.engine.store import CacheError

_SLOTS = ("suffix", "labels", "exact", "token", "page")
_FIRST = itemgetter(0)


def _bad(what: str) -> CacheError:
    return CacheError(f"engine cache has an unexpected shape ({what})")


def check_packed(packed: Any) -> int:
    """The rule table (list ids, meta bytes, texts): returns the rule count."""
    if not (isinstance(packed, tuple) and len(packed) == 3):
        raise _bad("rule table")
    list_ids, meta, texts = packed
    if not (isinstance(list_ids, tuple) and all(isinstance(x, str) for x in list_ids)):
        raise _bad("list ids")
    if not (isinstance(meta, bytes) and isinstance(texts, str)) or len(meta) % 16:
        raise _bad("rule rows")
    count = len(meta) // 16
    if count and texts.count("\n") != count - 1:
        raise _bad("rule texts")
    return count


def _check_filters(filters: list[Any], count: int) -> set[int]:
    """Every compiled filter is a 7-tuple whose rule id is in the table; returns the ids.

    C-level `map`s only: a Python call per filter would double the load time. The
    fields inside a filter are not checked one by one; only a file crafted with a valid
    checksum could get them wrong, and such a file can say anything it likes anyway.
    """
    if set(map(type, filters)) - {tuple} or set(map(len, filters)) - {7}:
        raise _bad("compiled filter")
    ids = set(map(_FIRST, filters))
    if set(map(type, ids)) - {int} or (ids and (min(ids) < 0 or max(ids) >= count)):
        raise _bad("filter id")
    return ids


def check_indexes(indexes: Any, count: int) -> None:
    """Every category, slot and filter; every rule must be reachable from an index."""
    if not (isinstance(indexes, dict) and set(indexes) == set(CATEGORIES)):
        raise _bad("index categories")
    buckets: list[Any] = []
    plain: list[int] = []  # bare rule ids (plain `||host^` filters), in suffix buckets only
    for category in CATEGORIES:
        index = indexes[category]
        if not (isinstance(index, dict) and set(index) == {*_SLOTS, "fallback"}):
            raise _bad(f"{category} index")
        buckets.append(index["fallback"])
        for slot in _SLOTS:
            table = index[slot]
            key_type = bytes if slot == "token" else str  # see `request.url_tokens`
            if (
                not isinstance(table, dict)
                or set(map(type, table)) - {key_type}
                or key_type() in table
            ):
                raise _bad(f"{category}.{slot}")
            values = list(table.values())
            kinds = set(map(type, values))
            if slot == "suffix" and int in kinds:  # split in C: one map per bucket kind
                plain.extend(compress(values, map(isinstance, values, repeat(int))))
                values = list(compress(values, map(isinstance, values, repeat(list))))
                kinds.discard(int)
            if kinds - {list}:
                raise _bad(f"{category}.{slot} bucket")
            buckets.extend(values)
    if set(map(type, buckets)) - {list}:
        raise _bad("index bucket")
    if plain and (min(plain) < 0 or max(plain) >= count):
        raise _bad("filter id")
    seen = _check_filters(list(chain.from_iterable(buckets)), count).union(plain)
    if len(seen) != count:
        raise _bad(f"{count - len(seen):,} of {count:,} rules are in no index")


def check_lists(lists: Any, count: int) -> None:
    if not (isinstance(lists, dict) and all(isinstance(v, dict) for v in lists.values())):
        raise _bad("lists")
    try:
        total = sum(int(v["rules"]) for v in lists.values())
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad("list summary") from exc
    if total != count:
        raise _bad(f"lists count {total:,} rules, the table holds {count:,}")


def check_diagnostics(rows: Any) -> None:
    if not isinstance(rows, list):
        raise _bad("diagnostics")
    for row in rows:
        if not (isinstance(row, tuple) and len(row) == 5 and type(row[1]) is int):
            raise _bad("diagnostic row")
        if not all(isinstance(row[i], str) for i in (0, 2, 3, 4)):
            raise _bad("diagnostic row")
