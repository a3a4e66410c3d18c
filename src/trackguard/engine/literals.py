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
TOKEN_RUN = re.compile(f"[{TOKEN_CHARS}]+")  # noqa: TID251 - our own fixed pattern
#: Syntax where Python's parser and RE2 may read literals differently (POSIX classes,
#: `\Q...\E`, `\p{..}`, `\x{..}`, `\C`): no tokens from such regexes.
_DIALECT_MARKS = ("[:", "\\Q", "\\p", "\\P", "\\x{", "\\C", "\\z")
#: RE2's case folding matches `s` to `ſ` (U+017F), which `str.lower` keeps as it is, so
#: the lower-cased URL would not hold the token. (Its other ASCII fold, the Kelvin sign
#: to `k`, lower-cases to `k`.) A case-insensitive regex takes no token with an `s`.
_FOLDED = frozenset("s")


def regex_tokens(body: str, match_case: bool) -> list[str]:
    """Lower-case tokens that are whole tokens of every URL `body` matches (may be [])."""
    if any(mark in body for mark in _DIALECT_MARKS):
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed: Any = _sre_parse.parse(body)
    except Exception:  # any refusal or warning: no tokens, never a failure
        return []
    if parsed.state.flags & re.VERBOSE:
        return []  # `(?x)`: whitespace would not be literal (RE2 refuses it anyway)
    out: list[str] = []
    run: list[str] = []
    for op, arg in [*parsed, (None, None)]:
        if op is _LITERAL and 0 < arg < 0x80:
            run.append(chr(arg))
            continue
        # Anything else (a class, a group, a repeat, an anchor, a non-ASCII literal,
        # the end) is an unknown stretch: a token must be bounded inside the run.
        text = "".join(run).lower()
        for m in TOKEN_RUN.finditer(text):
            if m.start() > 0 and m.end() < len(text):
                token = m.group()
                if match_case or not _FOLDED.intersection(token):
                    out.append(token)
        run = []
    return out
