"""Linear-time matching of wildcard patterns: pieces, `^` separators, `||` label anchors.

A filter pattern is a row of fixed-length *pieces* separated by `*`. Pieces are matched
greedily from left to right, each at its leftmost possible place: for fixed-length pieces
that is exact, and it means one search per piece, never a search tree.

The ABP separator `^` is a one-character class (anything but a letter, a digit or one of
`_-.%`, or the end of the text). No regular expression sees list text. Instead the URL is
*reduced* once per request: every separator character becomes `^` (`reduce`). A piece is
reduced the same way, so one `str.find` of the reduced piece in the reduced URL finds
every place where letters, digits and separator positions line up; the few separator
characters the piece spells out literally (`/`, `?`, `=`) are then checked on the real
URL. A piece without such literals needs nothing more: one C-level search. With them,
candidates are leap-frogged against the longest literal segment, and every step is
charged to the request's work budget (`Budget`), the backstop that keeps any hostile
list-and-URL pair under a fixed amount of work.

`||` (host anchor) is decided with two searches, not one per label: at the host's start,
and as the leftmost `.piece` that starts inside the host (a label start is a dot plus one).

No I/O, no list state: everything here is a pure function of pattern and URL text.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Characters that are *not* ABP separators (ABP `^`): ASCII letters, digits, `_-.%`.
WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.%")
_REDUCE_ASCII = {i: "^" for i in range(128) if chr(i) not in WORD_CHARS}
_NOT_WORD = re.compile(r"[^A-Za-z0-9_\-.%]")  # noqa: TID251 - our own fixed pattern

#: Work units. One unit is about one character scanned in C (~1-2 ns); a Python-level
#: step (a candidate tried, a filter looked at) costs `STEP`. `BUDGET` per question keeps
#: the worst case near a millisecond; the real request log needs a small share of it
#: (see docs/engine.md and benchmarks/engine.py --hostile).
STEP = 250
BUDGET = 1_000_000


class OverBudget(Exception):
    """Raised inside matching when a request has used up its work budget.

    `rule` is the id of the filter being checked when it ran out (set by the matcher).
    """

    def __init__(self, rule: int | None = None) -> None:
        super().__init__("work budget exhausted")
        self.rule = rule


class Budget:
    """Work left for one question; `charge` raises `OverBudget` when it runs out."""

    __slots__ = ("left",)

    def __init__(self, units: int = BUDGET) -> None:
        self.left = units

    def charge(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise OverBudget


def reduce(text: str) -> str:
    """`text` with every separator character replaced by `^` (same length)."""
    if text.isascii():
        return text.translate(_REDUCE_ASCII)
    return _NOT_WORD.sub("^", text)


# A separator piece, prepared: (reduced piece, literal checks, key offset, key, length).
# checks: ((offset, segment), ...) for the `^`-free segments that spell separators.
# key: the longest such segment, used to leap over candidates ("" when there is none).
SepPiece = tuple[str, tuple[tuple[int, str], ...], int, str, int]


@lru_cache(maxsize=16384)
def prepare(piece: str) -> SepPiece:
    """Reduce one piece that contains `^` and note what the reduction cannot check."""
    checks: list[tuple[int, str]] = []
    offset = 0
    for segment in piece.split("^"):
        if segment and reduce(segment) != segment:
            checks.append((offset, segment))
        offset += len(segment) + 1
    key_offset, key = max(checks, key=lambda c: len(c[1]), default=(0, ""))
    return reduce(piece), tuple(checks), key_offset, key, len(piece)


def trailing_separators(piece: str) -> int:
    """How many `^` end the piece: each may match the end of the text (zero width)."""
    return len(piece) - len(piece.rstrip("^"))


def _verified(text: str, checks: tuple[tuple[int, str], ...], start: int) -> bool:
    for offset, segment in checks:  # noqa: SIM110 - a loop is faster than all(genexpr)
        if not text.startswith(segment, start + offset):
            return False
    return True


def find_sep(
    text: str, reduced: str, prepared: SepPiece, pos: int, at_end: bool, budget: Budget
) -> int:
    """Start of the leftmost match at or after `pos` of a piece with `^`, or -1.

    `reduced` is `reduce(text)` padded with at least as many `^` as the piece has
    trailing separators: a `^` that lands in the padding matched the end of the text.
    `at_end`: the match must reach the end of the text (`|` anchor).
    """
    p1, checks, key_offset, key, m = prepared
    n = len(text)
    if at_end and pos < n - m:
        pos = n - m  # a match that starts earlier cannot reach the end
    s = reduced.find(p1, pos)
    cost = m + STEP
    while s >= 0:
        budget.charge(cost + (s - pos))
        if not checks:
            return s
        if key:
            q = text.find(key, s + key_offset)
            if q < 0:
                return -1
            if q - key_offset > s:
                pos = s
                s = reduced.find(p1, q - key_offset)
                continue
        if _verified(text, checks, s):
            return s
        pos = s
        s = reduced.find(p1, s + 1)
    return -1


def sep_at(text: str, reduced: str, prepared: SepPiece, pos: int, at_end: bool) -> bool:
    """Does the piece with `^` match exactly at `pos`?"""
    p1, checks, _, _, m = prepared
    if at_end and pos + m < len(text):
        return False
    return reduced.startswith(p1, pos) and _verified(text, checks, pos)
