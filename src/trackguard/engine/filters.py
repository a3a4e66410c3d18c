"""One compiled filter against one request: linear piece search, options, screens.

`match` is the whole question for one filter, cheapest checks first. `screen` groups
many filters under one RE2 set (regex bodies, or the longest literal each must contain)
so a crowded bucket costs one C call instead of a Python check per filter;
`first_screened` walks such a group. `prefilter_literal` is the text a filter's URLs
must hold, for a C-level `in` test before a filter is looked at in Python. Pure: no
index, no I/O. Layouts of compiled filters: see `compiler`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from trackguard.engine.compiler import (
    FLAG_CASE,
    FLAG_HOST,
    FLAG_LEFT,
    FLAG_RIGHT,
    FLAG_SEPARATOR,
    KIND_GENERIC,
    KIND_LITERAL,
    KIND_REGEX,
    KIND_TAIL,
    Compiled,
)
from trackguard.engine.literals import regex_pieces
from trackguard.engine.params import compile_regex
from trackguard.engine.pieces import (
    STEP,
    OverBudget,
    find_sep,
    prepare,
    sep_at,
    trailing_separators,
)
from trackguard.engine.request import Context, suffixes


@lru_cache(maxsize=4096)
def compiled_regex(body: str, case: bool) -> Any:
    """RE2 only: list regexes are untrusted and must run in linear time."""
    return compile_regex(body, case)


def _find(
    ctx: Context, text: str, piece: str, pos: int, anchored: bool, at_end: bool, flags: int
) -> int:
    """Start of the leftmost match of one piece at or after `pos` (exactly at `pos` when
    `anchored`; reaching the end of the text when `at_end`), or -1. Linear, see `pieces`."""
    if flags & FLAG_SEPARATOR and "^" in piece:
        prepared = prepare(piece)
        reduced = ctx.reduced(text, trailing_separators(piece))
        if anchored:
            return pos if sep_at(text, reduced, prepared, pos, at_end) else -1
        return find_sep(text, reduced, prepared, pos, at_end, ctx)
    if anchored:
        if at_end:
            return pos if len(text) - len(piece) == pos and text.endswith(piece) else -1
        return pos if text.startswith(piece, pos) else -1
    if at_end:
        start = len(text) - len(piece)
        return start if start >= pos and text.endswith(piece) else -1
    return text.find(piece, pos)


def _pieces(ctx: Context, text: str, pieces: tuple[str, ...], pos: int, flags: int) -> bool:
    """Match wildcard-separated pieces in order from `pos`: greedy leftmost, linear.

    Leftmost matching of each piece is exact for fixed-length pieces, so there is no
    search tree to explore and nothing to backtrack into: one search per piece. Plain
    pieces are handled inline (the hot path); pieces with `^` go through `_find`.
    """
    last = len(pieces) - 1
    n = len(text)
    if last < 0:
        return not flags & FLAG_RIGHT or pos >= n
    separators = flags & FLAG_SEPARATOR
    anchored = flags & FLAG_LEFT
    right = flags & FLAG_RIGHT
    for i, piece in enumerate(pieces):
        if separators and "^" in piece:
            at_end = bool(right) and i == last
            s = _find(ctx, text, piece, pos, bool(anchored) and i == 0, at_end, flags)
            if s < 0:
                return False
            pos = s + len(piece)
            if pos > n:
                pos = n  # trailing `^` matched the end of the text
        elif anchored and i == 0:
            if right and i == last:
                return n - len(piece) == pos and text.endswith(piece)
            if not text.startswith(piece, pos):
                return False
            pos += len(piece)
        elif right and i == last:
            return n - len(piece) >= pos and text.endswith(piece)
        else:
            j = text.find(piece, pos)
            if j < 0:
                return False
            pos = j + len(piece)
    return True


@lru_cache(maxsize=16384)
def _dotted(piece: str) -> str:
    return "." + piece


def _host_anchored(ctx: Context, text: str, pieces: tuple[str, ...], flags: int) -> bool:
    """`||pattern`: the first piece starts at the host's start or at a label start.

    Greedy like `_pieces`: the leftmost label start where the first piece matches leaves
    the most room for the rest, so two searches find it: at the host's start, then the
    leftmost `.piece` that starts inside the host. Only a single piece anchored at the
    end too (`||a.example^|`) has its start fixed by the end; it tries each label start,
    and a host has at most 127 (at most 253 characters).
    """
    start = ctx.host_start
    first = pieces[0]
    rest = flags & ~FLAG_LEFT
    if len(pieces) == 1 and flags & FLAG_RIGHT:
        if _find(ctx, text, first, start, True, True, flags) >= 0:
            return True
        host = ctx.host
        i = host.find(".")
        while i >= 0:
            ctx.charge(STEP + len(first))
            if _find(ctx, text, first, start + i + 1, True, True, flags) >= 0:
                return True
            i = host.find(".", i + 1)
        return False
    at = _find(ctx, text, first, start, True, False, flags)
    if at < 0:
        dot = _find(ctx, text, _dotted(first), start, False, False, flags)
        if dot < 0 or dot >= ctx.host_end:
            return False
        at = dot + 1
    return _pieces(ctx, text, pieces[1:], min(at + len(first), len(text)), rest)


def match(f: Compiled, ctx: Context) -> bool:
    """Does one compiled filter apply to the request? Cheapest checks first."""
    _, types, party, include, exclude, denyallow, pattern = f
    if not types & ctx.type:
        return False
    if party and (party == 2) != (ctx.third if ctx.third is not None else ctx.is_third()):
        return False
    if include is not None or exclude is not None:
        for key in ctx.page_keys:
            if exclude is not None and key in exclude:
                return False
            if include is not None and key in include:
                break
        else:
            if include is not None:
                return False
    if denyallow is not None:
        for s in suffixes(ctx.host):
            if s in denyallow:
                return False
    if pattern is None:
        return True
    kind = pattern[0]
    if kind == KIND_LITERAL:
        return pattern[1] in ctx.lower
    flags = pattern[2]
    try:
        if kind == KIND_TAIL:
            text = ctx.text if flags & FLAG_CASE else ctx.lower
            return _pieces(ctx, text, pattern[1], ctx.host_end + pattern[3], flags)
        if kind == KIND_GENERIC:
            text = ctx.text if flags & FLAG_CASE else ctx.lower
            if not flags & FLAG_HOST:
                return _pieces(ctx, text, pattern[1], 0, flags)
            if not ctx.host:
                return False
            return _host_anchored(ctx, text, pattern[1], flags)
        if kind == KIND_REGEX:
            compiled = compiled_regex(pattern[1], bool(flags & FLAG_CASE))
            if compiled is None:
                return False
            data = ctx.data  # the URL as UTF-8 (lone surrogates passed through), once
            if data is None:
                data = ctx.data = ctx.text.encode("utf-8", "surrogatepass")
            return compiled.search(data) is not None
    except OverBudget as exc:
        if exc.rule is None:
            exc.rule = int(f[0])
        raise
    return False


def without_pattern(f: Compiled) -> Compiled:
    """The filter with its (already matched) pattern removed, for the option checks."""
    return (*f[:6], None)


def longest_literal(f: Compiled, token: str = "") -> str:
    """The longest text every URL the filter matches must contain (lower case).

    Met through the bucket of `token` (which every URL there holds), a text holding the
    token tells less: it counts for its length less the token's, so `://analytics.*/x`
    in the `analytics` bucket is screened by `/x`, not by `://analytics.`."""
    pattern = f[6]
    if pattern is None:
        return ""
    if pattern[0] == KIND_LITERAL:
        return str(pattern[1])
    parts: list[str] = []
    if pattern[0] == KIND_REGEX:
        parts.extend(regex_pieces(pattern[1], bool(pattern[2] & FLAG_CASE)))
    else:
        for piece in pattern[1]:
            parts.extend(piece.split("^") if pattern[2] & FLAG_SEPARATOR else (piece,))
    if not token:
        return max(parts, key=len, default="").lower()
    parts = [p.lower() for p in parts]
    return max(parts, key=lambda p: len(p) - (len(token) if token in p else 0), default="")


def screen(
    filters: list[Compiled], token: str = ""
) -> tuple[Any, list[Compiled], list[Compiled]] | None:
    """Group left-over filters under one RE2 set (regex bodies or escaped literals).

    Returns (set, screened filters, filters that need a direct check), or None when
    nothing can be screened. Regex hits are fully matched (the pattern is dropped);
    literal hits are only candidates and are checked in full.
    """
    regex_set = re2.Set.SearchSet(re2.Options())  # matched via `._set` with bytes, below
    screened: list[Compiled] = []
    direct: list[Compiled] = []
    for f in filters:
        pattern = f[6]
        if pattern is not None and pattern[0] == KIND_REGEX:
            body = pattern[1] if pattern[2] & FLAG_CASE else "(?i)" + pattern[1]
            entry = without_pattern(f)
        else:
            literal = longest_literal(f, token)
            if len(literal) < 3:
                direct.append(f)
                continue
            body = "(?i)" + re2.escape(literal)
            entry = f
        try:
            regex_set.Add(body)
        except Exception:  # RE2 refused it on its own: check it directly instead
            direct.append(f)
            continue
        screened.append(entry)
    if not screened:
        return None
    try:
        regex_set.Compile()
    except Exception:
        return None
    # The wrapper re-encodes the text on every call; the request's text is encoded
    # once (`Context.data`) and handed to the underlying set directly.
    return regex_set._set, screened, direct


def first_screened(screened_bucket: tuple[Any, list[Compiled], Any], ctx: Context) -> int | None:
    screen, screened, direct = screened_bucket
    ctx.left -= len(direct) * (STEP + ctx.scan) + ctx.scan  # `ctx.charge`, inlined
    if ctx.left < 0:
        raise OverBudget
    for f in direct:
        if match(f, ctx):
            return int(f[0])
    data = ctx.data
    if data is None:
        data = ctx.data = ctx.text.encode("utf-8", "surrogatepass")
    hits = screen.Match(data)
    if hits:
        ctx.left -= len(hits) * (STEP + ctx.scan)
        if ctx.left < 0:
            raise OverBudget
        for i in sorted(hits):
            if match(screened[i], ctx):
                return int(screened[i][0])
    return None


class _PlainBucket(list[Compiled]):
    """A crowded token bucket that RE2 could not screen: checked filter by filter."""

    __slots__ = ()


def prefilter_literal(f: Compiled, token: str = "") -> str:
    """Text the lower-cased URL holds whenever `f` matches ("" when none is known).

    Looked for with one C-level `in` before `match` is called: most filters met in a
    bucket fail on their pattern, and the test costs a tenth of the call. Case-sensitive
    filters keep only ASCII literals: lower-casing other text can depend on context
    (a final sigma), so its lower-case form need not occur in the lower-cased URL.
    """
    literal = longest_literal(f, token)
    return literal if literal.isascii() else ""


def host_prefilter(f: Compiled) -> tuple[str, int]:
    """(text, where) for a filter met through its host: a `||host/path` tail anchored
    at the host's end is tested by `startswith` at host end + `where` (its leading
    literal, up to the first `^`): a few characters, where `in` would scan a long URL
    once per filter of the host. Otherwise (`prefilter_literal`, -1): tested by `in`.
    Only ASCII text: the URL up to the host's end is ASCII and lower case, so a position
    past it is the same in the URL and its lower-cased form."""
    pattern = f[6]
    if pattern is not None and pattern[0] == KIND_TAIL and pattern[2] & FLAG_LEFT:
        head = pattern[1][0].lower() if pattern[1] else ""
        if pattern[2] & FLAG_SEPARATOR:
            head = head.split("^", 1)[0]
        if head and head.isascii():
            return head, int(pattern[3])
    return prefilter_literal(f), -1
