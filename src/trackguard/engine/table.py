"""The rule table: the rules behind compiled filters, by id, kept compact.

A built or loaded engine holds each rule's list, line number, syntax and text in packed
form (`pack_rules`, what the cache file stores), and re-parses the one line of a rule
that decides something (`RuleTable`). Nothing here matches or indexes.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterable
from itertools import accumulate, compress
from itertools import count as naturals
from operator import add, attrgetter, eq
from typing import Any

from trackguard.lists import parse_line as _parse_line
from trackguard.lists.abp import parse_abp_line as _parse_abp_line
from trackguard.model import Format, Rule

_SOURCE, _SYNTAX = attrgetter("source"), attrgetter("syntax")
_SOURCE_LIST, _SOURCE_LINE, _SOURCE_TEXT = (attrgetter(a) for a in ("list_id", "line", "text"))

Packed = tuple[tuple[str, ...], bytes, str]


class RuleTable:
    """The rules behind compiled filters, kept compact for the cache file.

    A built engine holds the `Rule` objects themselves. A loaded engine holds only each
    rule's list, line number and text, and re-parses the one line on demand: only rules
    that decide something are ever looked at, and plain strings load far faster than
    100k rebuilt objects. Parsing is deterministic per version, which the cache key
    includes.
    """

    def __init__(
        self,
        rules: list[Rule] | None = None,
        packed: Packed | None = None,
    ) -> None:
        self._rules: dict[int, Rule] = dict(enumerate(rules)) if rules is not None else {}
        self._count = len(rules) if rules is not None else 0
        self._packed = packed
        self._starts: array[int] | None = None  # where each rule's text starts
        self._meta: array[int] | None = None
        if packed is not None:
            self._meta = array("i")
            self._meta.frombytes(packed[1])
            self._count = len(self._meta) // 4

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, rule_id: int) -> Rule:
        rule = self._rules.get(rule_id)
        if rule is None:
            rule = self._rules[rule_id] = self._unpack(rule_id)
        return rule

    def pack(self) -> Packed:
        if self._packed is None:
            self._packed = pack_rules([self._rules[i] for i in range(self._count)])
        return self._packed

    def offsets(self) -> array[int] | None:
        """Where each packed rule's text starts (None: nothing packed), made once.

        Offsets, not 100k strings: the split is made once and dropped (~6 MB less held
        for EasyList + EasyPrivacy after the first decision), ~20 ms the first time."""
        starts = self._starts
        if starts is None and self._packed is not None:
            lengths = accumulate(map(len, self._packed[2].split("\n")), initial=0)
            starts = self._starts = array("q", map(add, lengths, naturals()))  # + the "\n"s
        return starts

    def _unpack(self, rule_id: int) -> Rule:
        assert self._packed is not None and self._meta is not None
        texts = self._packed[2]
        starts = self._starts
        if starts is None:
            starts = self.offsets()
            assert starts is not None
        meta = self._meta
        at = rule_id * 4
        text = texts[starts[rule_id] : starts[rule_id + 1] - 1]
        list_id = self._packed[0][meta[at]]
        if meta[at + 2] == 0:  # ABP, the common case: one line is one rule
            return _parse_abp_line(text, list_id, meta[at + 1])[0]
        return _parse_line(text, list_id, meta[at + 1], _SYNTAXES[meta[at + 2]])[meta[at + 3]]


_SYNTAXES = (Format.ABP, Format.TPL, Format.HOSTS)


#: A syntax's number in the packed table, by the `id` of its `Format` member (an Enum
#: hashes in Python: a tenth of a microsecond per rule).
_SYNTAX_NUMBER = {id(f): i for i, f in enumerate(_SYNTAXES)}


def pack_rules(rules: list[Rule]) -> Packed:
    """The compact form of a rule table: list ids, 4 ints per rule, texts joined by LF.

    Column by column with C-level `map`s: a Python loop over 100k rules was a tenth of
    the build.
    """
    sources = list(map(_SOURCE, rules))
    list_ids = list(map(_SOURCE_LIST, sources))
    numbers = {list_id: i for i, list_id in enumerate(dict.fromkeys(list_ids))}
    return _pack_columns(
        tuple(numbers),
        array("i", map(numbers.__getitem__, list_ids)),
        list(map(_SOURCE_LINE, sources)),
        list(map(_SYNTAX_NUMBER.__getitem__, map(id, map(_SYNTAX, rules)))),
        list(map(_SOURCE_TEXT, sources)),
    )


def pack_scattered(
    spans: list[tuple[str, int]],
    rules: list[Rule],
    rule_ids: list[int],
    plain: list[tuple[list[int], list[str], list[int]]],
) -> Packed:
    """`pack_rules` of a table given in parts: (list id, rule count) spans in id order,
    `Rule`s at `rule_ids`, and plain ABP filters as (lines, texts, ids) columns. The
    parts are put in place by C-level maps."""
    size = sum(count for _, count in spans)
    numbers: dict[str, int] = {}
    list_numbers = array("i")
    for list_id, count in spans:
        if count:
            list_numbers.extend(array("i", [numbers.setdefault(list_id, len(numbers))]) * count)
    lines, syntaxes, texts = [0] * size, [0] * size, [""] * size
    sources = list(map(_SOURCE, rules))
    _scatter(lines, rule_ids, map(_SOURCE_LINE, sources))
    _scatter(syntaxes, rule_ids, map(_SYNTAX_NUMBER.__getitem__, map(id, map(_SYNTAX, rules))))
    _scatter(texts, rule_ids, map(_SOURCE_TEXT, sources))
    for plain_lines, plain_texts, ids in plain:  # syntax number 0: ABP
        _scatter(lines, ids, plain_lines)
        _scatter(texts, ids, plain_texts)
    # `scan_abp` makes at most one rule of a line: only other syntaxes need the search.
    return _pack_columns(tuple(numbers), list_numbers, lines, syntaxes, texts, any(syntaxes))


def _pack_columns(
    list_ids: tuple[str, ...],
    list_numbers: array[int],
    lines: list[int],
    syntaxes: list[int],
    texts: list[str],
    shared_lines: bool = True,
) -> Packed:
    """The packed table from its columns: each rule's list number (into `list_ids`),
    line, syntax number and text. `shared_lines`: rules may share a line."""
    size = len(lines)
    meta = array("i", bytes(16 * size))
    meta[0::4] = list_numbers
    meta[1::4] = array("i", lines)
    meta[2::4] = array("i", syntaxes)
    # Several rules from one line (a hosts line with several hosts) are told apart by
    # their position among that line's rules; everywhere else it is 0.
    for i in compress(range(1, size), map(eq, lines, lines[1:])) if shared_lines else ():
        if list_numbers[i] == list_numbers[i - 1]:
            meta[i * 4 + 3] = meta[i * 4 - 1] + 1
    # Parsers split on line breaks: no text contains "\n".
    return list_ids, meta.tobytes(), "\n".join(texts)


def _scatter(column: list[Any], positions: Iterable[int], values: Iterable[Any]) -> None:
    """`column[p] = v` for each pair, at C speed (a deque of length 0 drains the map)."""
    deque(map(column.__setitem__, positions, values), maxlen=0)
