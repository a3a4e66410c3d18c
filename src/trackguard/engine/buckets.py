"""A token bucket's prepared forms, as `Category` walks them.

A bucket in the index is a list of compiled filters; before a request meets it, it is
made into one of these: `Pairs` (each filter with its `prefilter_literal`), `Needs` (with
the other whole tokens its URLs must hold, for long URLs), or an RE2 screen
(`filters.screen`) for crowded buckets, with its `SplitScreen` for long URLs. A small
token index also gets a `token_gate`. Pure: built from filters alone, no index, no I/O.
"""

from __future__ import annotations

from typing import Any

import re2

from trackguard.engine.compiler import (
    FLAG_HOST,
    FLAG_LEFT,
    FLAG_RIGHT,
    KIND_GENERIC,
    KIND_LITERAL,
    Compiled,
)
from trackguard.engine.filters import prefilter_literal
from trackguard.engine.literals import TOKEN_CHARS, bounded_tokens

GATE_MAX_KEYS = 256  # token indexes up to this size get a `token_gate`

Pair = tuple[str, Compiled]  # (prefilter literal, filter)


class Pairs(list[Pair]):
    """A prepared bucket: (literal, filter) pairs, told apart from raw lists by type."""

    __slots__ = ()


def paired(filters: list[Compiled] | tuple[Compiled, ...]) -> Pairs:
    return Pairs((prefilter_literal(f), f) for f in filters)


class LeftOvers(Pairs):
    """A type's left-overs as pairs, and their RE2 screen for URLs longer than
    `screen_over` characters (`Category._left_over`)."""

    __slots__ = ("screen_over", "screened")

    def __init__(self, pairs: Pairs, screened: Any, screen_over: int) -> None:
        super().__init__(pairs)
        self.screened = screened
        self.screen_over = screen_over


class Needs(list[tuple[str, frozenset[bytes] | None, Compiled]]):
    """A prepared token bucket: (literal, other tokens, filter) triples.

    Besides its bucket's token, a filter may name other whole tokens every URL it
    matches must hold (`compiler.safe_tokens`). On a long URL one C-level subset test
    against the URL's token set turns most such filters down before their literal is
    searched for: on a 2 KB URL a search costs as much as a hundred subset tests.
    `union` is all those tokens together when every filter names some (else None): a
    long URL holding none of them skips the bucket at once (about 60% of the small
    buckets long real URLs meet; their walks got 13% faster)."""

    __slots__ = ("union",)

    union: frozenset[bytes] | None


def with_needs(token: bytes, filters: list[Compiled]) -> Needs:
    word = token.decode()
    needs = Needs((prefilter_literal(f, word), other_tokens(f, token), f) for f in filters)
    tokens = [need for _, need, _ in needs if need is not None]
    needs.union = frozenset().union(*tokens) if len(tokens) == len(needs) else None
    return needs


def other_tokens(f: Compiled, token: bytes) -> frozenset[bytes] | None:
    """The whole tokens besides `token` that any URL the filter matches holds, or None.

    What `compiler.safe_tokens` reads (`literals.bounded_tokens`), as bytes. Only
    wildcard/literal patterns (a regex's tokens are its bucket key alone), and only
    ASCII pattern text (lower-casing other text can change it).
    """
    pattern = f[6]
    if pattern is None or pattern[0] not in (KIND_GENERIC, KIND_LITERAL):
        return None
    pieces = (pattern[1],) if pattern[0] == KIND_LITERAL else pattern[1]
    if not all(piece.isascii() for piece in pieces):
        return None
    flags = pattern[2]
    need = set(
        bounded_tokens(
            [piece.lower() for piece in pieces],
            bool(flags & (FLAG_LEFT | FLAG_HOST)),
            bool(flags & FLAG_RIGHT),
        )
    )
    need.discard(token)
    return frozenset(need) or None


def token_gate(token: dict[bytes, Any]) -> Any:
    """One RE2 search telling whether a URL holds any of a small token index's keys as a
    whole token (the raw set: `.Match(bytes)` is a list, empty when none), or None for
    an empty or large index.

    Exceptions and the rarer categories are keyed by a few tokens (19 in EasyList +
    EasyPrivacy's exceptions), and are often asked about a URL no one has split yet
    (blocked by its host): on a long URL one scan in C spares splitting and hashing
    hundreds of tokens. Run on the lower-cased URL's UTF-8 bytes read as Latin-1, so a
    token boundary is exactly a byte outside `TOKEN_CHARS`, as `url_tokens` splits.
    """
    if not token or len(token) > GATE_MAX_KEYS:
        return None
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    gate = re2.Set.SearchSet(options)
    keys = "|".join(re2.escape(k.decode("ascii")) for k in sorted(token))
    outside = f"[^{re2.escape(TOKEN_CHARS)}]"
    try:
        gate.Add(f"(?:^|{outside})(?:{keys})(?:{outside}|$)".encode("ascii"))
        gate.Compile()
    except Exception:  # RE2 refused it (size): split and look up instead
        return None
    return gate._set  # the wrapper re-checks its arguments on every call
