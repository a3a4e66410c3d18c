"""The engine: one index for TPL, Adblock Plus and hosts rules, with explained decisions.

`Engine` is the public face: build it from list text or files, ask it about requests,
save it and load it back. Parsing lives in `trackguard.lists`, building in `compiler`
(regex index tokens in `literals`), the rules behind rule ids in `table`, deciding in
`matcher`: candidates per category in `category`, one filter against one request in
`filters`, the request's view in `request`, linear piece search and the work budget in
`pieces`. `$removeparam` in `params`, expensive-filter diagnostics in `costs`, the file
format in `store` and its shape check in `shape`. The engine never imports the proxy.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from trackguard.domain import load_public_suffixes
from trackguard.engine import shape
from trackguard.engine.batch import Question, check_batch
from trackguard.engine.compiler import ENGINE_VERSION, build_table, cache_key
from trackguard.engine.costs import cost_diagnostics
from trackguard.engine.matcher import Matcher
from trackguard.engine.params import strip_query
from trackguard.engine.store import CacheError, decode, encode, load_bytes, save_bytes
from trackguard.engine.table import RuleTable
from trackguard.lists import detect_format, parse_list
from trackguard.lists.abp import PlainHosts, scan_abp
from trackguard.lists.detect import NotAList, decode_list_bytes
from trackguard.model import (
    Decision,
    Diagnostic,
    Format,
    ListRejected,
    ListSource,
    ParsedList,
    Request,
    RequestType,
    Rule,
    Severity,
)

__all__ = ["CacheError", "Engine"]

_TYPE_CACHE: dict[str, int] = {}


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic GC while building or loading, then freeze what was made.

    Both create ~10^5 acyclic tuples in a burst; CPython would otherwise run full
    collections over the growing heap again and again (measured: 35-65% of build and
    load time), and afterwards every full collection would walk the whole index again
    (measured: millisecond pauses at p99 while matching). `gc.freeze` moves the index
    out of the collector's sight; reference counting still frees it when the engine is
    dropped, since nothing in it forms a cycle. Collecting first keeps garbage that
    happens to exist at that moment from being pinned by the freeze.
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _type_bit(type: str | RequestType | None) -> int:
    bit = _TYPE_CACHE.get(type)  # type: ignore[arg-type]
    if bit is None:
        if isinstance(type, RequestType):
            return int(type)
        bit = int(RequestType.parse(type or "other"))
        if len(_TYPE_CACHE) < 256:  # names come from callers: keep the memo bounded
            _TYPE_CACHE[type] = bit  # type: ignore[index]
    return bit


def _diag_row(d: Diagnostic) -> tuple[str, int, str, str, str]:
    return (d.list_id, d.line, d.severity.value, d.code, d.message)


class Engine:
    """A compiled, read-only set of lists. Thread-safe to query; swap, don't mutate."""

    def __init__(
        self,
        rules: RuleTable,
        indexes: dict[str, Any],
        diagnostics: Sequence[Diagnostic],
        lists: dict[str, dict[str, Any]],
        key: str,
    ) -> None:
        self._matcher = Matcher(rules, indexes)
        self._rules = rules
        self._indexes = indexes
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        self.lists = lists
        self.cache_key = key

    # -- building -------------------------------------------------------------------

    @classmethod
    def from_parsed(
        cls,
        parsed_lists: Iterable[ParsedList],
        *,
        strict_ie: bool = False,
        disabled_rules: Iterable[str] = (),
        key: str = "",
    ) -> Engine:
        """Build from parsed lists. `disabled_rules`: rule texts the user switched off."""
        return cls._build(
            ((parsed, None) for parsed in parsed_lists), strict_ie, disabled_rules, key
        )

    @classmethod
    def _build(
        cls,
        lists: Iterable[tuple[ParsedList, PlainHosts | None]],
        strict_ie: bool,
        disabled_rules: Iterable[str],
        key: str,
    ) -> Engine:
        with _no_gc():
            packed, indexes, diagnostics, lists_info = build_table(
                lists, strict_ie=strict_ie, disabled=frozenset(disabled_rules)
            )
            # Keep only the packed form (list, line, text per rule): the `Rule` objects
            # are re-made on demand for the few rules that decide, as after a cache load.
            # This keeps a built engine as small as a loaded one (about 20 MB less for
            # EasyList + EasyPrivacy).
            return cls(RuleTable(packed=packed), indexes, diagnostics, lists_info, key)

    @classmethod
    def from_sources(
        cls,
        sources: Iterable[ListSource],
        *,
        strict_ie: bool = False,
        disabled_rules: Iterable[str] = (),
    ) -> Engine:
        sources, fmts, key = _keyed(sources, strict_ie, frozenset(disabled_rules))
        with _no_gc():
            return cls._build(_scanned(sources, fmts), strict_ie, disabled_rules, key)

    @classmethod
    def from_text(
        cls,
        text: str,
        format: Format | str | None = None,
        *,
        list_id: str = "<text>",
        strict_ie: bool = False,
    ) -> Engine:
        fmt = Format(format) if isinstance(format, str) else format
        return cls.from_sources([ListSource(list_id, text, fmt)], strict_ie=strict_ie)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], *, strict_ie: bool = False) -> Engine:
        """Build from files; each list is named by its file name."""
        return cls.from_sources(_read_sources(paths), strict_ie=strict_ie)

    # -- persistence ----------------------------------------------------------------

    def to_bytes(self) -> bytes:
        payload = (
            ENGINE_VERSION,
            self.cache_key,
            self._rules.pack(),
            self._indexes,
            [_diag_row(d) for d in self.diagnostics],
            self.lists,
        )
        return encode(payload)

    @classmethod
    def from_bytes(cls, data: bytes, *, expected_key: str | None = None) -> Engine:
        with _no_gc():
            return cls._from_payload(decode(data), expected_key)

    @classmethod
    def _from_payload(cls, payload: Any, expected_key: str | None) -> Engine:
        """Check the decoded payload's shape before trusting any of it (see `shape`)."""
        if not (isinstance(payload, tuple) and len(payload) == 6):
            raise CacheError("engine cache has an unexpected shape (payload)")
        version, key, packed, indexes, diags, lists = payload
        if version != ENGINE_VERSION:
            raise CacheError(f"engine cache from engine version {version!r}")
        if not isinstance(key, str):
            raise CacheError("engine cache has an unexpected shape (key)")
        if expected_key is not None and key != expected_key:
            raise CacheError("engine cache was built from other lists")
        count = shape.check_packed(packed)
        shape.check_indexes(indexes, count)
        shape.check_lists(lists, count)
        shape.check_diagnostics(diags)
        try:
            diagnostics = [Diagnostic(d[0], d[1], Severity(d[2]), d[3], d[4]) for d in diags]
            return cls(RuleTable(packed=packed), indexes, diagnostics, lists, key)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise CacheError(f"engine cache has an unexpected shape ({exc})") from exc

    def save(self, path: str | Path) -> None:
        save_bytes(Path(path), self.to_bytes())

    @classmethod
    def load(cls, path: str | Path, *, expected_key: str | None = None) -> Engine:
        return cls.from_bytes(load_bytes(Path(path)), expected_key=expected_key)

    @classmethod
    def load_or_build(
        cls,
        cache_path: str | Path,
        sources: Iterable[ListSource],
        *,
        strict_ie: bool = False,
        disabled_rules: Iterable[str] = (),
    ) -> Engine:
        """Load the cache if it was built from exactly these lists, else build and save."""
        disabled = frozenset(disabled_rules)
        sources, fmts, key = _keyed(sources, strict_ie, disabled)
        try:
            return cls.load(cache_path, expected_key=key)
        except CacheError:
            pass
        with _no_gc():
            engine = cls._build(_scanned(sources, fmts), strict_ie, disabled, key)
        with suppress(OSError):  # a read-only state folder costs speed, never protection
            engine.save(cache_path)
        return engine

    def warm(self) -> Engine:
        """Do now what the first decisions would otherwise wait for: parsing the Public
        Suffix List (~35 ms, first third-party question) and the rule texts' offsets
        (~20 ms for EasyList + EasyPrivacy, first decision by a rule). A server calls
        it before it serves, so no request pays them; one-shot commands need not."""
        load_public_suffixes()
        self._matcher.rules.offsets()
        return self

    # -- questions ------------------------------------------------------------------

    def check(
        self, url: str, source_url: str | None = None, type: str | RequestType = "other"
    ) -> Decision:
        """Decide one request. `source_url=None` means no page: judged as third-party."""
        bit = _TYPE_CACHE.get(type)  # type: ignore[arg-type]  # `_type_bit`'s common case
        return self._matcher.decide(url, source_url, bit if bit is not None else _type_bit(type))

    def check_many(
        self, requests: Iterable[tuple[str, str | None, str | RequestType]]
    ) -> list[Decision]:
        """Decide a batch of `(url, source_url, type)` questions (the auditor's partitions).

        Same answers as `check` one by one; a batch saves the per-call lookups.
        """
        decide = self._matcher.decide
        return [decide(url, source, _type_bit(type)) for url, source, type in requests]

    def check_batch(self, questions: Sequence[Question]) -> list[Decision]:
        """Decide `(url, source_url, RequestType bit)` questions: `check`'s answers, each
        distinct question of the batch decided once (`engine.batch`)."""
        return check_batch(self._matcher, questions)

    def check_request(self, request: Request) -> Decision:
        return self._matcher.decide(request.url, request.source_url, int(request.type))

    def check_host(self, host: str) -> Decision:
        """Decide a CONNECT tunnel from its host alone (TPL spec §A.7 item 6)."""
        return self._matcher.decide_host(host.strip().lower().rstrip("."))

    def matching_rules(
        self, url: str, source_url: str | None = None, type: str | RequestType = "other"
    ) -> list[Rule]:
        """Every rule that applies to the request, for explanations and tests."""
        return self._matcher.matching_rules(url, source_url, _type_bit(type))

    def removeparam(
        self, url: str, source_url: str | None = None, type: str | RequestType = "other"
    ) -> tuple[str, tuple[Rule, ...]]:
        """Strip query parameters named by matching `$removeparam` rules."""
        q = url.find("?")
        if q < 0:
            return url, ()
        rules = self._matcher.removeparam_rules(url, source_url, _type_bit(type))
        if not rules:
            return url, ()
        stripped, used = strip_query(url, tuple(rule.removeparam or "" for rule in rules))
        if not used:
            return url, ()
        return stripped, tuple(rules[i] for i in used)

    # -- reporting ------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {
            "engine_version": ENGINE_VERSION,
            "rules": len(self._rules),
            "lists": self.lists,
        }

    def lint(self) -> list[Diagnostic]:
        """Expensive filters, and those that ran a request out of its work budget
        since this engine was made (`costs`): for `trackguard lint` and list authors."""
        return cost_diagnostics(self._indexes, self._matcher.rule, self._matcher.costly)

    def __len__(self) -> int:
        return len(self._rules)


def _keyed(
    sources: Iterable[ListSource], strict_ie: bool, disabled: frozenset[str]
) -> tuple[list[ListSource], list[Format], str]:
    """Sources with their formats (detected where not given) and their cache key."""
    listed = list(sources)
    fmts = [s.format or detect_format(s.text) for s in listed]
    key = cache_key(
        ((s.list_id, f.value, s.text) for s, f in zip(listed, fmts, strict=True)),
        strict_ie=strict_ie,
        disabled=disabled,
    )
    return listed, fmts, key


def _scanned(
    sources: list[ListSource], fmts: list[Format]
) -> list[tuple[ParsedList, PlainHosts | None]]:
    """Each list parsed for the builder: ABP lists with their plain filters set aside.

    All parsed before any is built: `$badfilter` in a later list applies to earlier ones.
    """
    return [
        scan_abp(s.text, s.list_id) if f is Format.ABP else (parse_list(s.text, s.list_id, f), None)
        for s, f in zip(sources, fmts, strict=True)
    ]


def _read_sources(paths: Iterable[str | Path]) -> list[ListSource]:
    out = []
    for p in paths:
        path = Path(p)
        try:
            text = decode_list_bytes(path.read_bytes())
        except NotAList as exc:
            raise ListRejected(f"{path}: {exc}") from None
        out.append(ListSource(path.name, text))
    return out
