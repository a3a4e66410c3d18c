"""Which compiled filters are expensive, as `Diagnostic`s for `trackguard lint`.

Matching is linear in the URL for every filter (see `pieces`), but the constant is not
the same for all of them: a filter the index cannot place is looked at on every
request, a pattern of many wildcard pieces costs a search per piece, a long piece that
mixes `^` with separators it spells out may need many candidate checks, and a huge
`$domain=` list costs memory. Filters that ran a request out of its work budget are
reported too. Pure: reads the built index, changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from trackguard.engine.compiler import (
    FLAG_SEPARATOR,
    KIND_GENERIC,
    KIND_REGEX,
    KIND_TAIL,
    Compiled,
    Index,
)
from trackguard.engine.filters import longest_literal
from trackguard.engine.params import compile_regex
from trackguard.model import Diagnostic, Rule, Severity

#: Thresholds; real lists (EasyList, EasyPrivacy) stay under all but the first.
MANY_PIECES = 8
LONG_SEPARATOR_PIECE = 64
HEAVY_DOMAINS = 1000
LARGE_REGEX = 1000  # EasyList's largest are ~830 (`.{100,}`)

_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.%")


def _unique(indexes: dict[str, Index]) -> Iterable[tuple[Compiled, bool]]:
    """Each compiled filter once, with whether it sits where every request sees it."""
    seen: set[int] = set()
    for index in indexes.values():
        buckets: list[tuple[list[Compiled], bool]] = [(index["fallback"], True)]
        for slot in ("suffix", "labels", "exact", "token", "page"):
            # A bare rule id is a plain `||host^` filter: nothing in it can be costly.
            buckets.extend((b, False) for b in index[slot].values() if type(b) is not int)
        for bucket, everywhere in buckets:
            for f in bucket:
                if id(f) not in seen:
                    seen.add(id(f))
                    yield f, everywhere


def _findings(f: Compiled, everywhere: bool) -> list[tuple[Severity, str, str]]:
    out: list[tuple[Severity, str, str]] = []
    _, _, _, include, exclude, _, pattern = f
    domains = len(include or ()) + len(exclude or ())
    if domains > HEAVY_DOMAINS:
        out.append(
            (
                Severity.NOTICE,
                "engine.heavy-domains",
                f"`$domain=` lists {domains:,} domains: memory for every one of them",
            )
        )
    if pattern is None:
        return out
    kind = pattern[0]
    if kind == KIND_REGEX:
        compiled = compile_regex(pattern[1])
        size = compiled.programsize if compiled is not None else 0
        if size > LARGE_REGEX:
            out.append(
                (
                    Severity.WARNING,
                    "engine.costly-filter",
                    f"regular expression of {size} RE2 instructions: slow on long URLs",
                )
            )
    elif kind in (KIND_GENERIC, KIND_TAIL):
        pieces = pattern[1]
        if len(pieces) > MANY_PIECES:
            out.append(
                (
                    Severity.WARNING,
                    "engine.costly-filter",
                    f"{len(pieces)} wildcard pieces: one search of the URL per piece",
                )
            )
        if pattern[2] & FLAG_SEPARATOR:
            for piece in pieces:
                literal_separators = sum(1 for c in piece if c != "^" and c not in _WORD)
                if len(piece) > LONG_SEPARATOR_PIECE and "^" in piece and literal_separators:
                    out.append(
                        (
                            Severity.WARNING,
                            "engine.costly-filter",
                            f"a {len(piece)}-character piece mixing `^` with literal "
                            "separators: may try many places in a URL",
                        )
                    )
                    break
    if everywhere:
        out.append(
            (
                Severity.NOTICE,
                "engine.unindexed-filter",
                "no host, token or literal of 3+ characters to index it by: "
                "looked at for every request",
            )
        )
    return out


def cost_diagnostics(
    indexes: dict[str, Index],
    rule: Callable[[int], Rule],
    costly: dict[int, int],
) -> list[Diagnostic]:
    """Diagnostics for expensive filters (static) and budget-breaking ones (`costly`)."""
    out: list[Diagnostic] = []
    for f, everywhere in _unique(indexes):
        # Left-overs with a literal of 3+ characters are screened by one RE2 set; only
        # the others cost a Python-level check on every request.
        pattern = f[6]
        direct = (
            everywhere
            and pattern is not None
            and pattern[0] != KIND_REGEX
            and len(longest_literal(f)) < 3
        )
        findings = _findings(f, direct)
        if findings:
            source = rule(int(f[0])).source
            out.extend(Diagnostic(source.list_id, source.line, *x) for x in findings)
    for rule_id, times in sorted(costly.items()):
        source = rule(rule_id).source
        out.append(
            Diagnostic(
                source.list_id,
                source.line,
                Severity.WARNING,
                "engine.over-budget",
                f"ran {times} request(s) out of the per-request work budget; "
                "those were decided without it",
            )
        )
    unique: dict[tuple[Any, ...], Diagnostic] = {}
    for d in out:
        unique.setdefault((d.list_id, d.line, d.code, d.message), d)
    return sorted(unique.values(), key=lambda d: (d.list_id, d.line, d.code))
