"""Index tokens for `/regex/` filters: the whole URL tokens every match must contain.

A regex filter with no token is looked at by every request (the left-overs), so each
one costs every request a little. Most list regexes spell out a literal stretch
(`\\.amazonaws\\.com\\/`, `\\/invoke\\.js`); a run of token characters inside such a
stretch, with a literal non-token character on both sides, is a whole token of any URL
the regex matches, so the filter can sit in that token's bucket like a plain filter.

The regex is only *parsed* here (by the standard library's parser, for its syntax
tree); it is never matched by Python's `re`, which can backtrack without bound. Where
the two dialects could disagree on what is literal, no token is taken: a regex the
parser refuses, warns about, or that uses RE2-only syntax simply stays a left-over.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

try:  # Python 3.11+: the parser behind `re`, used for its syntax tree only.
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older layouts
    import sre_parse as _sre_parse

_LITERAL = _sre_parse.LITERAL
#: What a token is made of, for filters (`compiler`, this module) and URLs (`request`)
#: alike: the one definition, since a filter indexed under a token a URL can never
#: yield would silently never be looked at.
TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789%"
#: bytes.translate table: token characters stay, every other byte becomes a space.
_TOKEN_TABLE = bytes(c if c in TOKEN_CHARS.encode() else 0x20 for c in range(256))
#: Syntax where Python's parser and RE2 may read literals differently (POSIX classes,
#: `\Q...\E`, `\p{..}`, `\x{..}`, `\C`): no tokens from such regexes.
_DIALECT_MARKS = ("[:", "\\Q", "\\p", "\\P", "\\x{", "\\C", "\\z")
#: RE2's case folding matches `s` to `ſ` (U+017F), which `str.lower` keeps as it is, so
#: the lower-cased URL would not hold the token. (Its other ASCII fold, the Kelvin sign
#: to `k`, lower-cases to `k`.) A case-insensitive regex takes no token with an `s`.
_FOLDED = frozenset("s")


def token_bytes(lower: str) -> bytes:
    """The text with every byte that is not a token character replaced by a space.

    Encoding and one `bytes.translate` run in C at memory speed. Non-ASCII characters
    encode to bytes over 0x7f, which are not token bytes, exactly as the character class
    says (the token index is keyed by bytes for this)."""
    return lower.encode("utf-8", "surrogatepass").translate(_TOKEN_TABLE)


def bounded_tokens(pieces: Iterable[str], left: bool = False, right: bool = False) -> list[bytes]:
    """The runs of token characters in lower-case text pieces that are whole tokens of
    any URL holding the pieces: bounded inside a piece by non-token characters, or by an
    anchor (`left`: the first piece's start, `right`: the last piece's end). A run
    touching an unbounded end could be part of a longer token in a URL. In order, repeats
    kept; by C-level splits (`token_bytes`), for the builder and for requests alike."""
    out: list[bytes] = []
    items = list(pieces)
    last = len(items) - 1
    for i, piece in enumerate(items):
        data = token_bytes(piece)
        runs = data.split()
        if not runs:
            continue
        if data[-1] != 0x20 and not (right and i == last):
            runs.pop()  # may continue past the piece's end in a URL
        if runs and data[0] != 0x20 and not (left and i == 0):
            runs.pop(0)  # may start before the piece's start
        out.extend(runs)
    return out


def _literal_runs(body: str, match_case: bool) -> tuple[list[str], bool] | None:
    """The runs of ASCII literal characters in the regex's top-level sequence (every
    match holds each of them, in order; lower case), and whether the regex is case
    sensitive after its own flags. None: the two dialects might disagree, or the
    parser refused it."""
    if any(mark in body for mark in _DIALECT_MARKS):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed: Any = _sre_parse.parse(body)
    except Exception:  # any refusal or warning: nothing known, never a failure
        return None
    flags = parsed.state.flags
    if flags & re.VERBOSE:
        return None  # `(?x)`: whitespace would not be literal (RE2 refuses it anyway)
    if flags & re.IGNORECASE:
        match_case = False  # a leading `(?i)` in the body overrules `$match-case`
    runs: list[str] = []
    run: list[str] = []
    for op, arg in [*parsed, (None, None)]:
        if op is _LITERAL and 0 < arg < 0x80:
            run.append(chr(arg))
            continue
        # Anything else (a class, a group, a repeat, an anchor, a non-ASCII literal,
        # the end) is an unknown stretch between two runs.
        if run:
            runs.append("".join(run).lower())
        run = []
    return runs, match_case


def regex_tokens(body: str, match_case: bool) -> list[str]:
    """Lower-case tokens that are whole tokens of every URL `body` matches (may be [])."""
    found = _literal_runs(body, match_case)
    if found is None:
        return []
    runs, match_case = found
    out: list[str] = []
    for run in runs:
        for run_token in bounded_tokens([run]):
            token = run_token.decode()
            if match_case or not _FOLDED.intersection(token):
                out.append(token)
    return out


@lru_cache(maxsize=4096)
def regex_pieces(body: str, match_case: bool) -> tuple[str, ...]:
    """Texts the lower-cased URL holds whenever `body` matches (may be none): for a
    prefilter, one C-level `in` before the regex itself is run.

    Case-insensitive, a run is cut at each `s` (`_FOLDED`: RE2 matches it to `ſ`,
    which the lower-cased URL keeps as it is): `\\.amazonaws\\.com` gives `.amazonaw`
    and `.com`.
    """
    found = _literal_runs(body, match_case)
    if found is None:
        return ()
    runs, match_case = found
    pieces = runs if match_case else [p for run in runs for p in run.split("s")]
    return tuple(p for p in pieces if p)
